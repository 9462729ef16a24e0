// bench/round: 20 peers in one process with an instant test-double trainer (npm run bench -- round [PEERS]).
// Protocol overhead per round (announce to result on the aggregator), gossip delivery latency of the announces,
// RSS per peer, Hellos heard per peer per second, and the witnesses' price: update bytes they fetch and seconds
// they spend recomputing, per round, against the round's wall time.
// ROUND_DEBUG=1 prints every peer's log lines to stderr.
import '../node/polyfill.ts'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { jobIdOf } from '../protocol/job-spec.ts'
import { benchJob } from './lib/bench-job.ts'
import { startBootstrap, dialableAddrs } from '../bootstrap/bootstrap-node.ts'
import { createPeer } from '../node/peer.ts'
import type { Peer } from '../node/peer.ts'
import { createFakeTrainer } from '../node/testing/fake-trainer.ts'
import { buildAggregator } from '../trainer/aggregate/build-aggregator.ts'
import { FEDAVG } from '../protocol/aggregation-spec.ts'
import { RoundMessage } from '../protocol/messages.ts'

const PEERS = Number(process.argv[2] ?? 20)
// the daemon's own timing (Hello every 2 s, discovery every 10 s): the colleague's first run used Hellos every
// 0.5 s and discovery every 2 s, four and five times the daemon's defaults, which with 20 peers in one JS
// thread kept it saturated (event-loop lag p50 ~250 ms) and made every gossip hop, dial and push slow
const TIMING = {}
const ROUNDS = 5
const gc = (): void => { (globalThis as { gc?: () => void }).gc?.() }
gc()
const rss0 = process.memoryUsage().rss
const job = benchJob('bench-round', ROUNDS, PEERS)
const jobId = jobIdOf(job)
const dir = mkdtempSync(join(tmpdir(), 'fedit-bench-round-'))
const boot = await startBootstrap({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
  local: true })
const peers: Peer[] = []
const tStart = Date.now()
// ROUND_DEBUG=1 also prints the connections opened and closed so far (all peers) every 2 s
let connOpen = 0; let connClose = 0
if (process.env.ROUND_DEBUG === '1') {
  setInterval(() => {
    console.error(`${((Date.now() - tStart) / 1000).toFixed(1)} conns open=${connOpen} close=${connClose} ` +
      `live=${peers.reduce((s, p) => s + p.libp2p.getConnections().length, 0)}`)
  }, 2000).unref()
}
const rejected = new Map<string, number>()
let witnessBytes = 0; let witnessSeconds = 0; let witnessChecks = 0
const announces = new Map<string, { sent?: number, received: number[] }>()
for (let i = 0; i < PEERS; i++) {
  const p = createPeer({
    job, jobId,
    trainer: createFakeTrainer({ lora: { ...job.lora }, layers: 4, dim: 64 }),
    aggregate: buildAggregator(FEDAVG),
    stateDir: join(dir, `p${i}`),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: dialableAddrs(boot),
    local: true,
    ...(process.env.ROUND_DEBUG === '1' ? { logger: (l: string) => {
      console.error(`${((Date.now() - tStart) / 1000).toFixed(1)} p${i} ${l}`)
    } } : {}),
    timing: TIMING
  })
  p.events.on('rejected', (r) => {
    rejected.set(`${r.where}:${r.reason.split(':')[0]}`,
      (rejected.get(`${r.where}:${r.reason.split(':')[0]}`) ?? 0) + 1)
  })
  p.events.on('witnessed', (w) => { witnessBytes += w.bytes; witnessSeconds += w.seconds; witnessChecks++ })
  p.events.on('announce', (a) => {
    const k = `${a.round}/${a.attempt}`
    const e = announces.get(k) ?? { received: [] }
    if (a.mine) e.sent = a.at; else e.received.push(a.at)
    announces.set(k, e)
  })
  await p.start()
  if (process.env.ROUND_DEBUG === '1') {
    p.libp2p.addEventListener('connection:open', () => { connOpen++ })
    p.libp2p.addEventListener('connection:close', () => { connClose++ })
  }
  peers.push(p)
}
// ROUND_PROF=FILE writes a CPU profile of rounds 2.. (start-up, discovery and the first round left out)
const prof = process.env.ROUND_PROF !== undefined && process.env.ROUND_PROF !== '' ? new Session() : undefined
if (prof !== undefined) {
  prof.connect()
  await prof.post('Profiler.enable')
  peers[0]!.events.once('result', () => { void prof.post('Profiler.start') })
}
// Hellos heard by one peer while the rounds run (each peer stretches its interval past 32 members)
let hellos = 0
peers[0]!.libp2p.services.pubsub.addEventListener('message', (e) => {
  try { if (RoundMessage.decode(e.detail.data).hello !== undefined) hellos++ } catch { /* counted elsewhere */ }
})
const t0 = Date.now()
const lag = monitorEventLoopDelay({ resolution: 10 })
lag.enable()
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('rounds did not complete in 180 s')), 180_000)
  const check = setInterval(() => {
    if (peers.every((p) => p.global.round >= ROUNDS)) { clearInterval(check); clearTimeout(timer); resolve() }
  }, 50)
})
lag.disable()
const hellosPerPeerPerSec = hellos / ((Date.now() - t0) / 1000)
const roundWallMs = (Date.now() - t0) / ROUNDS
if (prof !== undefined) {
  writeFileSync(process.env.ROUND_PROF!, JSON.stringify((await prof.post('Profiler.stop')).profile))
}
gc()
const rssPerPeerMB = (process.memoryUsage().rss - rss0) / 2 ** 20 / (PEERS + 1)
const rounds = peers[0]!.rounds
const overheadMs = rounds.reduce((s, r) => s + r.seconds * 1000, 0) / rounds.length
const lat: number[] = []
for (const e of announces.values()) if (e.sent !== undefined) for (const r of e.received) lat.push(r - e.sent)
lat.sort((a, b) => a - b)
const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN
console.error(`${ROUNDS} rounds in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
  `aggregators ${new Set(rounds.map((r) => r.aggregator)).size}; ${lat.length} announce deliveries; ` +
  `rejected ${JSON.stringify(Object.fromEntries(rejected))}`)
await Promise.all(peers.map(async (p) => await p.stop()))
await boot.stop()
rmSync(dir, { recursive: true, force: true })
console.log(JSON.stringify({ bench: 'round', peers: PEERS, rounds: ROUNDS, overheadMs: Math.round(overheadMs),
  gossipP50Ms: q(0.5), gossipP99Ms: q(0.99), rssPerPeerMB: +rssPerPeerMB.toFixed(1),
  // what explains the figures: failover attempts, refusals, and how late the shared event loop ran timers
  // while the rounds ran (every hop of every message waits for it; the machine's other load shows here)
  failovers: rounds.filter((r) => r.attempt > 0).length,
  witnessChecksPerRound: +(witnessChecks / ROUNDS).toFixed(1),
  witnessBytesPerRound: Math.round(witnessBytes / ROUNDS),
  witnessSecondsPerRound: +(witnessSeconds / ROUNDS).toFixed(3),
  // one witness's recompute against a round's wall time (they run in parallel on their own machines)
  witnessShareOfRound: +((witnessSeconds / Math.max(1, witnessChecks)) / (roundWallMs / 1000)).toFixed(3),
  hellosPerPeerPerSec: +hellosPerPeerPerSec.toFixed(1),
  rejected: Object.fromEntries(rejected),
  loopLagP50Ms: +(lag.percentile(50) / 1e6).toFixed(0),
  loopLagP99Ms: +(lag.percentile(99) / 1e6).toFixed(0)
}))
process.exit(0)
