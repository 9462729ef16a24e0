// A 3-peer job seen four ways: peer 0's log lines, `fedit status` (its control socket, then its state folder
// once stopped), its Prometheus metrics and its dashboard in a real headless browser. All four must tell the
// same rounds: numbers, aggregators, training losses, the exclusion of a member that sends NaN.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { FAST, testJob, startNet, until } from '../node/net-fixture.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { createNaNTrainer } from '../../node/testing/corrupt-trainer.ts'
import { createMetricsRegistry } from '../../node/observe/metrics.ts'
import { startObservability } from '../../node/observe/observability.ts'
import type { PeerSnapshot } from '../../node/observe/snapshot.ts'
import { makeLogger } from '../../bin/log-format.ts'
import { parsePromText } from './prom-text.ts'
import { findChromium, launch, screenshotDir } from './browser.ts'

const FEDIT = fileURLToPath(new URL('../../bin/fedit.js', import.meta.url))
const run = promisify(execFile)
const chromium = findChromium()
if (chromium.skip !== undefined) console.log(`# the dashboard's page is not opened (no browser): ${chromium.skip}`)

async function status (dir: string): Promise<PeerSnapshot> {
  const { stdout } = await run(process.execPath, [FEDIT, 'status', '--state', dir, '--json'])
  return JSON.parse(stdout) as PeerSnapshot
}

interface Seen { round: number, aggregator: string, loss: string, excluded: string }

/** node/round-info.ts formatRound's line */
const ROUND_LINE = new RegExp('round (\\d+)(?: \\(failover \\d+\\))?: aggregator=(\\S+)(?: \\(me\\))? ' +
  'included=\\d+/\\d+(?: excluded=(.*?))? trainLoss=(\\S+)')

const NAME = 'log, fedit status, metrics and the dashboard show the same rounds of a 3-peer job'

test(NAME, { timeout: 120_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 3, peersPerRound: 3, minPeers: 3, roundDeadlineSeconds: 3 })
  // members stay live for 6 s without a Hello (FAST's 1.5 s lets a loaded machine drop one for a moment)
  const net = await startNet(0, job, jobId, { timing: { ...FAST, memberTtlMs: 6000 } })
  const lines: string[] = []
  const metrics = createMetricsRegistry()
  const logger = makeLogger('text', () => ({}), (s) => { lines.push(s) })
  const p0 = await net.addPeer({ metrics: metrics.libp2p, logger })
  let trainedRounds = 0
  let announced = 0
  p0.events.on('trained', () => { trainedRounds++ })
  const steps: number[] = []
  p0.events.on('trainStep', (s) => { steps.push(s.step) })
  p0.events.on('announce', (a) => { if (a.mine) announced++ })
  const dir0 = join(net.dir, 'p0')
  const obs = await startObservability({
    peer: p0, job, jobId, stateDir: dir0,
    metrics: { addr: { host: '127.0.0.1', port: 0 }, registry: metrics.registry },
    dashboard: { host: '127.0.0.1', port: 0 }
  })
  let closed = false
  const browser = chromium.path !== undefined ? await launch(chromium.path) : undefined
  try {
    assert.equal(statSync(obs.controlPath!).mode & 0o777, 0o600, 'the control socket is its owner\'s only')
    // the page opens before any round: everything after comes over its live event stream
    const page = await browser?.newPage()
    if (page !== undefined) {
      await page.setViewport({ width: 1280, height: 1100 })
      await page.goto(obs.dashboardUrl!)
      await page.waitForSelector('#link.on')
    }
    await net.addPeer()
    const poisoner = await net.addPeer({ trainer: createNaNTrainer(createFakeTrainer({ lora: { ...job.lora } })) })
    await until(() => net.peers.every((p) => p.global.round === 3), 60_000, '3 rounds on every peer')
    const ids = net.peers.map((p) => p.peerId)
    const short = (id: string): string => id.slice(-6)

    // the log: one line per round
    const fromLog = new Map<number, Seen>()
    for (const l of lines) {
      const m = ROUND_LINE.exec(l)
      if (m !== null) {
        fromLog.set(Number(m[1]), { round: Number(m[1]), aggregator: m[2]!, loss: m[4]!, excluded: m[3] ?? '' })
      }
    }
    assert.deepEqual([...fromLog.keys()], [1, 2, 3], lines.join('\n'))
    const expected = p0.rounds.map((r): Seen => ({
      round: r.round,
      aggregator: short(r.aggregator),
      loss: r.trainLoss.toFixed(4),
      excluded: r.excluded.map((x) => `${short(x.peer)}(${x.reason})`).join(',')
    }))
    assert.deepEqual([...fromLog.values()], expected)
    const poisoned = p0.rounds.filter((r) => r.selected.includes(poisoner.peerId))
    assert.ok(poisoned.length > 0, 'the poisoner was selected')
    for (const r of poisoned) {
      assert.match(r.excluded.find((x) => x.peer === poisoner.peerId)?.reason ?? '', /^non_finite/)
    }

    // fedit status, from the running peer
    const live = await status(dir0)
    assert.equal(live.running, true)
    assert.equal(live.peerId, p0.peerId)
    assert.equal(live.completed, 3)
    assert.equal(live.stage, 'done')
    assert.equal(live.globalHash, p0.global.hash)
    assert.deepEqual(live.members.map((m) => m.peer), [...ids].sort())
    assert.deepEqual(live.rounds, JSON.parse(JSON.stringify(p0.rounds)))
    assert.ok(live.reachability!.connections >= 2)

    // the metrics
    const res = await fetch(obs.metricsUrl!)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const m = parsePromText(await res.text())
    assert.equal(m.value('fedit_rounds_completed'), 3)
    assert.equal(m.value('fedit_round'), 3)
    assert.equal(m.value('fedit_job_rounds'), 3)
    assert.equal(m.value('fedit_stage', { stage: 'done' }), 1)
    assert.equal(m.value('fedit_info', { peer_id: p0.peerId, job_id: jobId, role: 'peer' }), 1)
    assert.equal(m.value('fedit_round_train_loss')!.toFixed(4), expected[2]!.loss)
    assert.equal(m.value('fedit_members_live'), live.members.length)
    assert.ok(m.value('fedit_connections')! >= 2)
    const lastAggregated = new Map<string, number>()
    for (const r of p0.rounds) lastAggregated.set(r.aggregator, r.round)
    assert.deepEqual(new Map(m.all('fedit_round_aggregator').map((s) => [s.labels.peer!, s.value])), lastAggregated)
    assert.equal(m.value('fedit_round_seconds_count'), 3)
    assert.equal(m.types.get('fedit_round_seconds'), 'histogram')
    const included = p0.rounds.reduce((n, r) => n + r.included.length, 0)
    assert.equal(m.value('fedit_updates_total', { outcome: 'included' }), included)
    assert.equal(m.value('fedit_updates_total', { outcome: 'excluded', reason: 'non_finite' }), poisoned.length)
    assert.equal(m.value('fedit_failovers_total'), p0.rounds.filter((r) => r.attempt > 0).length)
    assert.equal(m.value('fedit_election_wins_total'), announced)
    assert.ok(announced >= p0.rounds.filter((r) => r.aggregator === p0.peerId).length)
    assert.equal(m.value('fedit_train_rounds_total'), trainedRounds)
    // every trained round reported its steps as they ended (the fake trainer takes 4)
    assert.deepEqual(steps, Array.from({ length: trainedRounds }, () => [1, 2, 3, 4]).flat())
    assert.equal(live.training?.activeRound, undefined)
    assert.ok(m.value('fedit_train_tokens_per_second')! > 0)
    // libp2p's own: bytes by protocol (our adapter transfers among them when peer 0 pushed or served one)
    const byProtocol = m.all('libp2p_data_transfer_bytes_total').map((s) => s.labels.protocol!)
    assert.ok(byProtocol.some((p) => p.startsWith('/meshsub/')), byProtocol.join(', '))
    assert.ok(byProtocol.some((p) => p.startsWith('/fedit/')), byProtocol.join(', '))

    // the dashboard: its data, read-only (the server refuses anything but GET), and as a person sees it
    const api = await (await fetch(new URL('api/status', obs.dashboardUrl))).json() as PeerSnapshot
    assert.deepEqual(api.rounds, live.rounds)
    assert.equal(api.completed, 3)
    assert.equal((await fetch(new URL('api/status', obs.dashboardUrl), { method: 'POST' })).status, 405)
    if (page !== undefined) {
      await page.waitForSelector('body[data-completed="3"]', { timeout: 10_000 })
      const shown = await page.$$eval('#timeline tbody tr', (rows) => rows.map((tr) => ({
        round: Number(tr.getAttribute('data-round')),
        aggregator: tr.querySelector('td.aggregator')!.getAttribute('data-peer')!,
        loss: tr.querySelector('td.loss')!.textContent!,
        excluded: tr.querySelector('td.excluded')!.textContent!
      })))
      assert.deepEqual(shown.map((r) => r.round), [3, 2, 1])
      for (const r of shown) {
        const e = p0.rounds[r.round - 1]!
        assert.equal(r.aggregator, e.aggregator)
        assert.equal(r.loss, e.trainLoss.toFixed(4))
        assert.equal(r.excluded, e.excluded.map((x) => `${short(x.peer)}: ${x.reason}`).join('; '))
      }
      assert.equal(await page.$eval('#round-number', (e) => e.textContent), '3')
      assert.equal(await page.$eval('#stage', (e) => e.textContent), 'done')
      // idle: the training bar is empty, not full
      const barWidth = await page.$eval('#train-bar', (e) => (e as unknown as { style: { width: string } }).style.width)
      assert.equal(barWidth, '0%')
      assert.equal(await page.$eval('#train-now', (e) => e.textContent), 'not training now')
      assert.equal(await page.$eval('#global-hash', (e) => e.textContent), p0.global.hash)
      const memberRows = await page.$$eval('#members tbody tr', (rows) => rows.map((r) => r.getAttribute('data-peer')))
      assert.deepEqual(memberRows, [...ids].sort())
      const points = await page.$$eval('#loss-chart circle', (cs) =>
        cs.map((c) => [Number(c.getAttribute('data-round')), Number(c.getAttribute('data-loss'))]))
      assert.deepEqual(points, p0.rounds.map((r) => [r.round, r.trainLoss]))
      // read-only: nothing on the page to act with
      assert.equal(await page.$$eval('form, input, button, textarea, select', (els) => els.length), 0)
      const shots = screenshotDir(net.dir)
      mkdirSync(shots, { recursive: true })
      const shot = join(shots, 'dashboard.png')
      await page.screenshot({ path: shot, fullPage: true })
      console.log(`# dashboard screenshot: ${shot}`)
    }

    // stopped: fedit status reads the state folder
    await obs.close()
    closed = true
    await p0.stop()
    const offline = await status(dir0)
    assert.equal(offline.running, false)
    assert.equal(offline.peerId, p0.peerId)
    assert.equal(offline.completed, 3)
    assert.equal(offline.globalHash, live.globalHash)
    assert.deepEqual(offline.rounds, live.rounds)
  } finally {
    await browser?.close()
    if (!closed) await obs.close()
    await net.close()
  }
})
