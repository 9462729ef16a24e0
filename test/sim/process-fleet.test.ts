// End to end through the command line: `fedit simulate` without --in-process spawns a `fedit bootstrap`
// process and one `fedit peer` process per peer (real libp2p on 127.0.0.1, real trainer), as users run them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { validateReport } from '../../sim/report.ts'

const FEDIT = fileURLToPath(new URL('../../bin/fedit.js', import.meta.url))

/** the last lines of each process's log, for a failure's message */
function logTails (out: string): string {
  const dir = join(out, 'work', 'logs')
  if (!existsSync(dir)) return ''
  return readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) =>
    `--- ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-25).join('\n')}`).join('\n')
}

test('3 peer processes and a bootstrap process run 2 rounds with real training', { timeout: 300_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'fedit-proc-test-'))
  let passed = false
  try {
    const child = spawn(process.execPath, [FEDIT, 'simulate', '--peers', '3', '--rounds', '2', '--per-round', '2',
      '--local-steps', '2', '--limit-per-peer', '40', '--seed', '7', '--out', out],
      // a timed-out test ends the simulation (SIGTERM), which ends its peer processes, so the runner can go on
      { stdio: ['ignore', 'pipe', 'pipe'], signal: t.signal })
    let log = ''
    child.stdout.on('data', (b: Buffer) => { log += b.toString() })
    child.stderr.on('data', (b: Buffer) => { log += b.toString() })
    child.on('error', () => {}) // the abort of a timed-out test
    // ended before the runner's timeout, so that a stalled job fails with its peers' logs in the message
    const stop = setTimeout(() => child.kill('SIGTERM'), 270_000)
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    clearTimeout(stop)
    assert.equal(code, 0, `${log}\n${logTails(out)}`)
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))
    assert.deepEqual(validateReport(report), [])
    assert.equal(report.config.inProcess, false)
    assert.deepEqual(report.rounds.map((r: { round: number }) => r.round), [1, 2])
    for (const r of report.rounds) assert.equal(r.included.length, 2, JSON.stringify(r))
    assert.ok(report.final.evalLoss < report.base.evalLoss,
      `held-out loss ${report.final.evalLoss} < base ${report.base.evalLoss}`)
    assert.match(log, /trained round 1: \d+ examples/)
    assert.ok(existsSync(join(out, 'adapter', 'adapter_model.safetensors')))
    passed = true
  } finally {
    // a failed run keeps its peers' logs (a hang here once left nothing to read)
    if (passed) rmSync(out, { recursive: true, force: true })
    else console.log(`kept ${out} (its peers' logs are in work/logs)`)
  }
})
