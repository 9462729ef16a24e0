// End to end through the command line: `fedit simulate` without --in-process spawns a `fedit bootstrap`
// process and one `fedit peer` process per peer (real libp2p on 127.0.0.1, real trainer), as users run them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { validateReport } from '../../sim/report.ts'

const FEDIT = fileURLToPath(new URL('../../bin/fedit.js', import.meta.url))

test('3 peer processes and a bootstrap process run 2 rounds with real training', { timeout: 180_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'fedit-proc-test-'))
  try {
    const child = spawn(process.execPath, [FEDIT, 'simulate', '--peers', '3', '--rounds', '2', '--per-round', '2',
      '--local-steps', '2', '--limit-per-peer', '40', '--seed', '7', '--out', out],
      // a timed-out test ends the simulation (SIGTERM), which ends its peer processes, so the runner can go on
      { stdio: ['ignore', 'pipe', 'pipe'], signal: t.signal })
    let log = ''
    child.stdout.on('data', (b: Buffer) => { log += b.toString() })
    child.stderr.on('data', (b: Buffer) => { log += b.toString() })
    child.on('error', () => {}) // the abort of a timed-out test
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    assert.equal(code, 0, log)
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))
    assert.deepEqual(validateReport(report), [])
    assert.equal(report.config.inProcess, false)
    assert.deepEqual(report.rounds.map((r: { round: number }) => r.round), [1, 2])
    for (const r of report.rounds) assert.equal(r.included.length, 2, JSON.stringify(r))
    assert.ok(report.final.evalLoss < report.base.evalLoss,
      `held-out loss ${report.final.evalLoss} < base ${report.base.evalLoss}`)
    assert.match(log, /trained round 1: \d+ examples/)
    assert.ok(existsSync(join(out, 'adapter', 'adapter_model.safetensors')))
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})
