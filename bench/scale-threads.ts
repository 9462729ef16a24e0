// bench/scale-threads: the simulation's in-process fleet at 25, 50 and 100 peers (npm run bench --
// scale-threads [--peers 25,50,100] [--rounds 3] [--threads K] [--settle-s 30] [--idle-s 20] [--keep]
// [--peer-timers]).
// bench/scale holds every peer on one event loop; here they are spread over worker threads (sim/peer-shard.ts, 25
// a thread unless --threads), as `fedit simulate --in-process` runs them, with the simulation's timers
// (sim/fleet-in-process.ts inProcessTiming) and the instant test-double trainer. Each point runs in a fresh child
// process. Per point: rounds completed, overhead (the mean of each round's seconds, announce to result on its
// aggregator), and over the rounds after the first: announce p99 (from the aggregator publishing it to each peer
// taking it, bench scale's gossipP99LaterMs), each peer thread's event-loop lag p99 (the worst thread's; all of
// them in loopLagP99ByThreadMs) and the process's CPU in cores; then, after a settle period, CPU per idle peer over
// an idle window (process CPU time, every thread's), RSS per peer, connections per peer and the share of the job
// live in the views. On stderr: each round's updates included and excluded, and the peers' lines on what a round
// waited for. --keep keeps the peers' state folders and logs and says where; --peer-timers runs the peers on their
// own default timers (heartbeat 2 s, discovery 10 s...), as bench scale does, instead of the simulation's.
import '../node/polyfill.ts'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jobIdOf } from '../protocol/job-spec.ts'
import { benchJob } from './lib/bench-job.ts'
import { createFakeTrainer } from '../node/testing/fake-trainer.ts'
import { startInProcessFleet } from '../sim/fleet-in-process.ts'
import { flagValue, numberFlag } from './lib/args.ts'

interface Point {
  peers: number
  threads: number
  roundsCompleted: number
  overheadMs: number | null
  roundS: number[]
  gossipP99LaterMs: number | null
  loopLagP99LaterMs: number | null
  loopLagP99ByThreadMs: number[]
  cpuCoresLater: number | null
  cpuPerIdlePeerPct: number
  rssPerPeerMB: number
  connsPerPeer: number
  liveInView: number
  startS: number
  error?: string
}

const ROUNDS = numberFlag('rounds', 3)
const IDLE_S = numberFlag('idle-s', 20)
const SETTLE_S = numberFlag('settle-s', 30)
const THREADS = flagValue('threads')
/** the peers' default timers (bench scale's) instead of the simulation's */
const PEER_TIMERS = process.argv.includes('--peer-timers')
/** keep the peers' state folders and logs (dir/logs/p<i>.log), and say where */
const KEEP = process.argv.includes('--keep')
if (!Number.isInteger(ROUNDS) || ROUNDS < 2) throw new Error(`--rounds must be an integer >= 2, got ${ROUNDS}`)
if (!(IDLE_S > 0)) throw new Error(`--idle-s must be a positive number of seconds, got ${IDLE_S}`)
if (!(SETTLE_S >= 0)) throw new Error(`--settle-s must be a number of seconds >= 0, got ${SETTLE_S}`)
if (THREADS !== undefined && !(Number.isInteger(Number(THREADS)) && Number(THREADS) >= 1)) {
  throw new Error(`--threads must be an integer >= 1, got ${THREADS}`)
}

/** one child per point, one at a time: a fresh heap, event loops and CPU clock for each */
async function drive (): Promise<void> {
  const list = (flagValue('peers') ?? '25,50,100').split(',').map(Number)
  if (list.some((n) => !Number.isInteger(n) || n < 6)) {
    throw new Error('--peers must be a list like 25,50,100 (each >= 6)')
  }
  const points: Point[] = []
  for (const n of list) {
    const pass = ['--rounds', String(ROUNDS), '--idle-s', String(IDLE_S), '--settle-s', String(SETTLE_S),
      ...(THREADS !== undefined ? ['--threads', THREADS] : []), ...(KEEP ? ['--keep'] : []),
      ...(PEER_TIMERS ? ['--peer-timers'] : [])]
    points.push(await child(n, pass))
    console.error(`scale-threads ${n}: ${JSON.stringify(points.at(-1))}`)
  }
  console.log(JSON.stringify({ bench: 'scale-threads', rounds: ROUNDS, settleS: SETTLE_S, idleS: IDLE_S, points }))
  if (points.some((p) => p.error !== undefined)) process.exitCode = 1
}

/** start-up, rounds and idle window together; generous, as the machine may be loaded */
const pointLimitMs = (n: number): number => 120_000 + n * 3000 + ROUNDS * 60_000 + (SETTLE_S + IDLE_S) * 1000

async function child (n: number, pass: string[]): Promise<Point> {
  const self = fileURLToPath(import.meta.url)
  const proc = spawn(process.execPath, ['--import', 'tsx', self, '--point', String(n), ...pass],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const killer = setTimeout(() => { proc.kill('SIGKILL') }, pointLimitMs(n) + 60_000)
  const code = await new Promise<number | null>((resolve) => { proc.on('close', resolve) })
  clearTimeout(killer)
  try {
    return JSON.parse(out.trim().split('\n').at(-1) ?? '') as Point
  } catch {
    return { peers: n, threads: NaN, roundsCompleted: 0, overheadMs: null, roundS: [], gossipP99LaterMs: null,
      loopLagP99LaterMs: null, loopLagP99ByThreadMs: [], cpuCoresLater: null, cpuPerIdlePeerPct: NaN,
      rssPerPeerMB: NaN, connsPerPeer: NaN, liveInView: NaN, startS: NaN,
      error: `point process exited ${code ?? 'by signal'} without a result` }
  }
}

const cpuS = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

function p99 (xs: readonly number[]): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!
}

async function runPoint (n: number): Promise<Point> {
  const rss0 = process.memoryUsage().rss
  const t0 = Date.now()
  const job = benchJob('bench-scale-threads', ROUNDS, n)
  const dir = mkdtempSync(join(tmpdir(), 'fedit-bench-scale-threads-'))
  const trainers = Array.from({ length: n }, () => createFakeTrainer({ lora: { ...job.lora }, layers: 4, dim: 64 }))
  const fleet = await startInProcessFleet({ job, jobId: jobIdOf(job), trainers, samples: trainers.map(() => 100), dir,
    seed: 1, peerTimers: PEER_TIMERS, ...(THREADS !== undefined ? { threads: Number(THREADS) } : {}) })
  const startS = (Date.now() - t0) / 1000
  // by `round/attempt`: when its aggregator published the announce, and when each other peer took it
  const announces = new Map<string, { sent?: number, received: number[] }>()
  fleet.events.on('accepted', (a) => {
    const k = `${a.round}/${a.attempt}`
    const e = announces.get(k) ?? { received: [] }
    if (a.mine) e.sent = a.at; else e.received.push(a.at)
    announces.set(k, e)
  })
  // the peers' own lines about a round that waits (a push that failed, a refused update), on stderr
  fleet.events.on('note', (line) => { console.error(`  ${line}`) })
  const roundS = new Map<number, number>()
  let later: { cpu: number, at: number } | undefined
  fleet.events.on('announce', (a) => {
    if (a.round !== 2 || later !== undefined) return
    later = { cpu: cpuS(), at: Date.now() }
    fleet.loopLag?.(true).catch(() => {})
  })
  const limit = Date.now() + pointLimitMs(n)
  let error: string | undefined
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => { error = `only ${roundS.size} of ${ROUNDS} rounds in time`; resolve() },
      limit - Date.now())
    fleet.events.on('result', ({ info }) => {
      if (roundS.has(info.round)) return
      // why a round is slow (stderr): an update that did not come, a failover
      console.error(`round ${info.round} attempt ${info.attempt}: ${info.seconds.toFixed(1)} s, included ` +
        `${info.included.length} of ${info.selected.length}` + (info.excluded.length === 0 ? ''
        : `, excluded: ${info.excluded.map((x) => `${x.peer.slice(-6)} (${x.reason})`).join(', ')}`))
      roundS.set(info.round, info.seconds)
      if (roundS.size >= ROUNDS) { clearTimeout(t); resolve() }
    })
  })
  const laterEnd = { cpu: cpuS(), at: Date.now() }
  const lags = await fleet.loopLag?.() ?? []
  const delays = [...announces].filter(([k]) => Number(k.split('/')[0]) >= 2)
    .flatMap(([, e]) => e.sent === undefined ? [] : e.received.map((r) => r - e.sent!))
  await sleep(SETTLE_S * 1000)
  const idle0 = { cpu: cpuS(), at: Date.now() }
  await sleep(IDLE_S * 1000)
  const idleCores = (cpuS() - idle0.cpu) / ((Date.now() - idle0.at) / 1000)
  const views = await fleet.views?.() ?? []
  const rss = process.memoryUsage().rss
  await fleet.stop()
  if (KEEP) console.error(`the peers' logs: ${join(dir, 'logs')}`)
  else rmSync(dir, { recursive: true, force: true })
  const rounds = [...roundS.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s)
  return {
    peers: n,
    threads: lags.length,
    roundsCompleted: rounds.length,
    overheadMs: rounds.length === 0 ? null : Math.round(1000 * rounds.reduce((a, b) => a + b, 0) / rounds.length),
    roundS: rounds.map((s) => Math.round(s * 10) / 10),
    gossipP99LaterMs: p99(delays),
    loopLagP99LaterMs: lags.length === 0 ? null : Math.max(...lags.map((l) => l.p99Ms)),
    loopLagP99ByThreadMs: lags.map((l) => l.p99Ms),
    cpuCoresLater: later === undefined ? null
      : Math.round(100 * (laterEnd.cpu - later.cpu) / ((laterEnd.at - later.at) / 1000)) / 100,
    cpuPerIdlePeerPct: Math.round(10000 * idleCores / n) / 100,
    rssPerPeerMB: Math.round(10 * (rss - rss0) / n / 1e6) / 10,
    connsPerPeer: Math.round(10 * views.reduce((a, v) => a + v.connections, 0) / Math.max(1, views.length)) / 10,
    liveInView: Math.round(100 * views.reduce((a, v) => a + v.members.length, 0) /
      Math.max(1, views.length * n)) / 100,
    startS: Math.round(startS),
    ...(error !== undefined ? { error } : {})
  }
}

const point = flagValue('point')
if (point === undefined) await drive()
else console.log(JSON.stringify(await runPoint(Number(point))))
