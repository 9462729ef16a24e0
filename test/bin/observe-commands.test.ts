// fedit peer --metrics --dashboard --log-format json, fedit bootstrap --metrics and fedit status, as a user
// runs them: real processes, the real model, 127.0.0.1. One peer of a 4-peer job waits for the others,
// which is all the status, the metrics and the dashboard need to show.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { gunzipSync } from 'node:zlib'
import { parsePromText } from '../dashboard/prom-text.ts'
import { until } from '../node/net-fixture.ts'

const fedit = (...args: string[]): { code: number | null, out: string, err: string } => {
  const r = spawnSync(process.execPath, ['bin/fedit.js', ...args], { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

interface Proc { readonly child: ChildProcess, readonly out: string[], readonly err: string[] }

function start (args: string[]): Proc {
  const child = spawn(process.execPath, ['bin/fedit.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const p: Proc = { child, out: [], err: [] }
  createInterface({ input: child.stdout! }).on('line', (l) => { p.out.push(l) })
  createInterface({ input: child.stderr! }).on('line', (l) => { p.err.push(l) })
  return p
}

async function stop (p: Proc): Promise<number | null> {
  if (p.child.exitCode !== null) return p.child.exitCode
  const exited = new Promise<number | null>((resolve) => p.child.once('exit', resolve))
  p.child.kill('SIGTERM')
  return await exited
}

const NAME = 'a peer process serves metrics, a dashboard and fedit status; logs JSON; the bootstrap serves metrics'

test(NAME, { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-obs-'))
  const procs: Proc[] = []
  try {
    const job = { ...JSON.parse(readFileSync('examples/job.json', 'utf8')), minPeers: 4 }
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job))
    // Dolly's first 80 lines are the held-out split; the peer trains on what follows
    const dolly = gunzipSync(readFileSync('assets/dolly/dolly-15k.jsonl.gz')).toString('utf8').split('\n').slice(0, 120)
    writeFileSync(join(dir, 'data.jsonl'), dolly.join('\n') + '\n')

    const boot = start(['bootstrap', '--local', '--listen', '/ip4/127.0.0.1/tcp/0', '--key', join(dir, 'boot.key'),
      '--metrics', '127.0.0.1:0'])
    procs.push(boot)
    await until(() => boot.out.length > 0 && boot.err.some((l) => l.startsWith('metrics: ')), 30_000,
      `the bootstrap's address (${boot.err.join(' ')})`)
    const bootMetrics = boot.err.find((l) => l.startsWith('metrics: '))!.slice(9)

    const state = join(dir, 'state')
    const peerArgs = ['peer', '--job', join(dir, 'job.json'), '--model', 'assets/stories260K/stories260K.bin',
      '--data', join(dir, 'data.jsonl'),
      '--bootstrap', boot.out[0]!, '--local', '--listen', '/ip4/127.0.0.1/tcp/0', '--state', state, '--workers', '1']
    const peer = start([...peerArgs, '--metrics', '127.0.0.1:0', '--dashboard', '127.0.0.1:0', '--log-format', 'json'])
    procs.push(peer)
    const records = (): Array<Record<string, unknown>> => peer.out.map((l) => JSON.parse(l) as Record<string, unknown>)
    const said = (prefix: string): string | undefined => {
      const msg = records().find((r) => String(r.msg).startsWith(prefix))?.msg as string | undefined
      return msg?.slice(prefix.length)
    }
    await until(() => said('dashboard: ') !== undefined, 60_000,
      () => `the peer's dashboard line (${peer.err.join(' ')})`)
    const started = records().find((r) => r.event === 'started')!
    const peerId = started.peerId as string
    assert.match(peerId, /^12D3KooW/)
    for (const r of records()) {
      assert.match(String(r.time), /^\d{4}-\d\d-\d\dT/)
      assert.ok(r.level === 'info' || r.level === 'warn')
    }

    // fedit status, from the running peer (its control socket, 0600)
    assert.equal(statSync(join(state, 'control.sock')).mode & 0o777, 0o600)
    const live = fedit('status', '--state', state, '--json')
    assert.equal(live.code, 0, live.err)
    const s = JSON.parse(live.out)
    assert.equal(s.running, true)
    assert.equal(s.peerId, peerId)
    assert.equal(s.stage, 'gathering')
    assert.equal(s.completed, 0)
    assert.equal(s.jobRounds, 10)
    const text = fedit('status', '--state', state)
    assert.match(text.out, new RegExp(`^peer +${peerId}\\n`))
    assert.match(text.out, /round +0\/10 completed; stage gathering/)

    // a second peer on the same state folder is refused, in one line
    const twin = fedit(...peerArgs)
    assert.equal(twin.code, 1)
    assert.equal(twin.err.trim(), `fedit peer: another peer is running with the state folder ${state}`)

    // the peer's metrics
    const m = parsePromText(await (await fetch(said('metrics: ')!)).text())
    assert.equal(m.value('fedit_stage', { stage: 'gathering' }), 1)
    assert.equal(m.value('fedit_rounds_completed'), 0)
    assert.equal(m.value('fedit_round'), 1)
    assert.equal(m.value('fedit_info', { peer_id: peerId, role: 'peer' }), 1)
    assert.ok(m.value('process_cpu_user_seconds_total')! > 0, 'prom-client\'s process metrics')
    // the bootstrap's, once the peer dialed it
    let b = parsePromText(await (await fetch(bootMetrics)).text())
    const t0 = Date.now()
    while (b.value('fedit_connections')! < 1 && Date.now() - t0 < 20_000) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      b = parsePromText(await (await fetch(bootMetrics)).text())
    }
    assert.ok(b.value('fedit_connections')! >= 1)
    assert.equal(b.all('fedit_info')[0]!.labels.role, 'bootstrap')
    assert.ok(b.all('libp2p_data_transfer_bytes_total').length > 0)

    // the dashboard's files and data; nothing but GET
    const dash = said('dashboard: ')!
    const page = await fetch(dash)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    assert.match(await page.text(), /<script src="dashboard.js"/)
    assert.equal((await (await fetch(new URL('api/status', dash))).json() as { peerId: string }).peerId, peerId)
    for (const method of ['POST', 'PUT', 'DELETE']) assert.equal((await fetch(dash, { method })).status, 405)

    // stopped: the state folder alone
    assert.equal(await stop(peer), 0)
    const offline = JSON.parse(fedit('status', '--state', state, '--json').out)
    assert.equal(offline.running, false)
    assert.equal(offline.peerId, peerId)
    assert.equal(offline.stage, 'stopped (was gathering)')
    const missing = fedit('status', '--state', join(dir, 'nope'))
    assert.equal(missing.code, 1)
    assert.equal(missing.err.trim(), `fedit status: ${join(dir, 'nope')}: no such folder`)
  } finally {
    for (const p of procs) await stop(p)
    rmSync(dir, { recursive: true, force: true })
  }
})
