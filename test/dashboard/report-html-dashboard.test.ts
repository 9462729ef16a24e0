// `fedit simulate --out DIR` writes DIR/report.html; opened from the disk in a real headless browser with the
// network cut, it shows report.json's rounds, aggregators, losses and exclusions, and both charts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import type { SimulationReport } from '../../sim/report.ts'
import { findChromium, launch, screenshotDir } from './browser.ts'

const FEDIT = fileURLToPath(new URL('../../bin/fedit.js', import.meta.url))
const chromium = findChromium()
if (chromium.skip !== undefined) console.log(`# skipping the browser checks: ${chromium.skip}`)

const NAME = 'report.html of a simulation opens offline and shows the report\'s rounds, exclusions and charts'

test(NAME, { timeout: 120_000, skip: chromium.skip }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'fedit-report-html-'))
  const browser = await launch(chromium.path!)
  try {
    // protocol only (fake trainer) with one attacker against the robust rule: a round with an exclusion
    await promisify(execFile)(process.execPath, [FEDIT, 'simulate', '--in-process', '--trainer', 'fake',
      '--peers', '4', '--rounds', '2', '--per-round', '3', '--limit-per-peer', '20', '--samples', '1',
      '--deadline', '3', '--malicious', '1', '--attack', 'scale', '--aggregation', 'robust', '--seed', '3',
      '--out', out], { maxBuffer: 1 << 24 })
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as SimulationReport
    const page = await browser.newPage()
    const requests: string[] = []
    await page.setRequestInterception(true)
    page.on('request', (req) => {
      requests.push(req.url())
      if (req.url().startsWith('file:')) void req.continue()
      else void req.abort()
    })
    await page.setViewport({ width: 1200, height: 900 })
    await page.goto(pathToFileURL(join(out, 'report.html')).href, { waitUntil: 'load' })
    assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), [], 'the page fetches nothing')
    const rows = await page.$$eval('#rounds tbody tr', (trs) => trs.map((tr) => ({
      round: Number(tr.getAttribute('data-round')),
      aggregator: tr.querySelector('td.aggregator')!.textContent!,
      trainLoss: tr.querySelector('td.train-loss')!.textContent!,
      evalLoss: tr.querySelector('td.eval-loss')!.textContent!,
      excluded: tr.querySelector('td.excluded')!.textContent!
    })))
    assert.deepEqual(rows, report.rounds.map((r) => ({
      round: r.round,
      aggregator: r.aggregator + ((r.attempt ?? 0) > 0 ? ` (failover ${r.attempt})` : ''),
      trainLoss: r.trainLoss.toFixed(4),
      evalLoss: r.evalLoss.toFixed(4),
      excluded: r.excluded.map((e) => `${e.peer}: ${e.reason}`).join('')
    })))
    const exclusions = report.rounds.flatMap((r) =>
      r.excluded.map((e) => `round ${r.round}: ${e.peer} excluded: ${e.reason}`))
    assert.ok(exclusions.length > 0, 'the attacker was excluded at least once')
    const listed = await page.$$eval('#exclusions li[data-round]', (lis) => lis.map((li) => li.textContent))
    assert.deepEqual(listed, exclusions)
    // the charts: inline SVG with the loss curve and one bar per peer
    assert.equal(await page.$$eval('#loss-chart svg', (s) => s.length), 1)
    assert.ok(await page.$eval('#loss-chart svg', (s) => s.getBoundingClientRect().height > 100))
    const mixText = await page.$eval('#mix-chart svg', (s) => s.textContent)
    for (const p of report.peers!) assert.ok(mixText!.includes(p.label), `${p.label} in the category mix`)
    assert.match(await page.$eval('#tables', (e) => e.textContent!), /federated/)
    assert.equal(await page.$$eval('script', (s) => s.length), 0)
    const shots = screenshotDir(out)
    mkdirSync(shots, { recursive: true })
    const shot = join(shots, 'report-html.png')
    await page.screenshot({ path: shot, fullPage: true })
    console.log(`# report.html screenshot: ${shot}`)
  } finally {
    await browser.close()
    rmSync(out, { recursive: true, force: true })
  }
})
