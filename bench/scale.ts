// bench/scale: how a job's cost grows with its size (npm run bench -- scale [--peers 25,50,100] [--rounds 3]
// [--settle-s 30] [--idle-s 20] [--profile FILE]). Each point runs in a fresh child process: PEERS peers in
// that one process with the instant test-double trainer run ROUNDS rounds, then stay joined to the finished job
// (Hellos, gossipsub, DHT, discovery: what an idle member pays) for a settle period and an idle window. Per
// point: rounds the job completed, protocol overhead per round, gossip delivery p99 of the announces and
// event-loop lag p99 while the rounds run; CPU per idle peer (process CPU time over the idle window / peers /
// window: CPU time, so less sensitive to a loaded machine than wall time), RSS per peer and connections per
// peer at the end of the window, and the pairs of peers holding two connections to each other. --profile FILE
// (one point only) writes a CPU profile of the idle window (read it with `node scripts/profile-packages.mjs FILE`);
// --profile-rounds FILE one of the rounds after the first.
// roundS: each round's seconds; trimmedPerPeer: the peers each one disconnected (node/connection-trim.ts). A peer
// alone at the end has its last log lines printed to stderr, and every 30 s a point says on stderr where it stands.
// --large-job-members N: the size from which quiet peers stretch their Hello interval (node/member-view.ts; a large
// N gives every peer the heartbeat, as before that change). --max-connected N: the peers' connection cap
// (node/connection-trim.ts; a large N turns the trim off). --quiet-fetch-ms N: the longest wait of a member without a
// role in the next round before it fetches a new global (node/member-role.ts; 0, the default: none).
// --min-peers N: the members live before round 1 begins (default all the peers; 75 at 100 peers is how the points
// of sessions 13-21 ran: rounds beside the last quarter's joins).
// gossipInPerPeerS: gossip messages each peer took in per second over the idle window (Hellos, once the job is
// done); liveInView: the share of the job each peer's view holds live at its end (1: every member in every view);
// components: connected groups of the job's peers (isolated: those with no connection to another peer of the job);
// a point whose job is in pieces carries an error.
// writesPerPeerS: the process's write syscalls (/proc/self/io) in the idle window per peer per second, a count of
// encrypted frames sent that the machine's load does not move.
// gossipP99LaterMs and loopLagP99LaterMs: the same two over the rounds after the first, once the job has formed;
// cpuCoresLater and writesPerPeerSLater: the process's CPU time (in cores: 1 or more, the loop was saturated) and
// write syscalls per peer per second over those rounds.
// gossipP99Ms is when peers accept an announce (after adopting the previous round); deliveryP99Ms when gossipsub
// hands it to them.
// On stderr, why rounds are slow: each round's excluded updates by reason and how long after the first peer the
// others adopted it, the announces refused while rounds ran, by reason, and the gossip the peers took in meanwhile,
// by kind (each a signature check at each peer), and the share of the other peers each Hello reached (0.99 at 100
// peers in session 22: a member missing from a view is rarely a lost Hello); FEDIT_SCALE_WHY=1 adds a line per
// refusal (the first 12 of each reason) with where the refusing peer stood
// (for unknown_members, when it and the announce's sender last heard the first few members it did not count, and
// the interval those Hellos announced), and the aggregators', trainers' and witnesses' lines of each round in
// order. Each round's line says what its adoptions waited on: from the round's first result reaching a peer to the
// fetch of its global (the witnesses' attestations), then the fetch. Then the selected trainers' steps by round and
// attempt (announce accepted, push failed or refused) and the global adapter fetches that failed, each peer's mesh
// size on the job's topic at the end, the mesh's shape every 2 s while rounds ran (its connected groups by two-sided
// mesh links, one-sided links, and for each peer alone: its connections, the topic's peers it knows, those it backs
// off from, its mesh, its gossipsub streams out and in, and its age), the results refused by reason, and the members
// asks (node/members-exchange.ts): those that failed, by reason, and those answered, with the Hellos each brought.
import '../node/polyfill.ts'
import { roundsTopic } from '../protocol/topics.ts'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jobIdOf } from '../protocol/job-spec.ts'
import { benchJob } from './lib/bench-job.ts'
import { startBootstrapThread } from '../sim/bootstrap-thread.ts'
import { createPeer } from '../node/peer.ts'
import { firstConnection } from '../node/join-pace.ts'
import type { Peer } from '../node/peer.ts'
import type { Connection } from '@libp2p/interface'
import { createFakeTrainer } from '../node/testing/fake-trainer.ts'
import { buildAggregator } from '../trainer/aggregate/build-aggregator.ts'
import { FEDAVG } from '../protocol/aggregation-spec.ts'
import { RoundMessage } from '../protocol/messages.ts'
import { flagValue, numberFlag } from './lib/args.ts'

/** when each peer started: a peer alone in the mesh is often one that has just joined */
const startedAt = new WeakMap<Peer, number>()
/** the remote peers each peer identified: gossipsub opens its streams to a peer once identify says it speaks it */
const identified = new WeakMap<Peer, Set<string>>()

interface Point {
  peers: number
  roundsCompleted: number
  overheadMs: number | null
  /** each completed round's seconds, announce to result on its aggregator (overheadMs is their mean) */
  roundS?: number[]
  gossipP99Ms: number | null
  loopLagP99Ms: number
  /** gossipP99Ms and loopLagP99Ms over the rounds after the first (null with one round) */
  gossipP99LaterMs: number | null
  /** announce delivery p99 as gossipsub hands the message to the peer (gossipP99Ms: as the peer accepts it, which
   * waits for it to have adopted the previous round), all rounds and the rounds after the first */
  deliveryP99Ms?: number | null
  deliveryP99LaterMs?: number | null
  loopLagP99LaterMs: number | null
  /** the process's CPU time over the rounds after the first, in cores (wall time's share) */
  cpuCoresLater?: number | null
  /** write syscalls per peer per second over the rounds after the first */
  writesPerPeerSLater?: number | null
  cpuPerIdlePeerPct: number
  rssPerPeerMB: number
  connsPerPeer: number
  /** peers each peer disconnected to keep its connection set bounded (node/connection-trim.ts), over the point */
  trimmedPerPeer?: number
  /** pairs of peers holding more than one connection to each other */
  duplicatePairs: number
  gossipInPerPeerS: number
  /** write syscalls of the process in the idle window, per peer per second: each is one encrypted frame or more */
  writesPerPeerS: number | null
  /** the members live in a peer's view at the end of the idle window, as a share of the job, averaged over peers */
  liveInView: number
  /** connected groups of the job's peers, by their open connections (1: one network) */
  components: number
  /** peers with no open connection to another peer of the job */
  isolated: number
  error?: string
}

const ROUNDS = numberFlag('rounds', 3)
const IDLE_S = numberFlag('idle-s', 20)
// between the rounds and the idle window: peers behind catch up and the discovery walks, fast while new members
// were found, back off; without it the window measured the job's start-up tail, not its steady state
const SETTLE_S = numberFlag('settle-s', 30)
const point = flagValue('point')
const LARGE_JOB = flagValue('large-job-members')
if (LARGE_JOB !== undefined && !(Number(LARGE_JOB) >= 1)) {
  throw new Error(`--large-job-members must be a number >= 1, got ${LARGE_JOB}`)
}
const QUIET_FETCH = flagValue('quiet-fetch-ms')
if (QUIET_FETCH !== undefined && !(Number(QUIET_FETCH) >= 0)) {
  throw new Error(`--quiet-fetch-ms must be a number >= 0, got ${QUIET_FETCH}`)
}
const MAX_CONNECTED = flagValue('max-connected')
if (MAX_CONNECTED !== undefined && !(Number(MAX_CONNECTED) >= 2)) {
  throw new Error(`--max-connected must be a number >= 2, got ${MAX_CONNECTED}`)
}
// rounds start once all N peers are live, so that the rounds run in a job that has formed rather than beside
// joiners' handshakes and DHT walks: with 3/4 (the default until session 22) a 100-peer point's rounds ran while
// its last 25 peers joined, and its announce delivery p99 (8-12 s) was set by them. Round 1 then begins as the
// last joiner is heard, before it is in the gossip mesh: that round still pays for it. (3/4 was chosen when a late
// Hello, TTL 3 heartbeats, dropped members from views; quiet members now live for 3 of their long intervals.)
const MIN_PEERS = flagValue('min-peers')
if (MIN_PEERS !== undefined && MIN_PEERS !== 'all' && !(Number(MIN_PEERS) >= 1)) {
  throw new Error(`--min-peers must be 'all' or a number >= 1, got ${MIN_PEERS}`)
}
const minPeers = (n: number): number => MIN_PEERS === undefined || MIN_PEERS === 'all' ? n
  : Math.min(n, Number(MIN_PEERS))
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a positive integer, got ${ROUNDS}`)
if (!(IDLE_S > 0)) throw new Error(`--idle-s must be a positive number of seconds, got ${IDLE_S}`)
if (!(SETTLE_S >= 0)) throw new Error(`--settle-s must be a number of seconds >= 0, got ${SETTLE_S}`)

if (point === undefined) await drive()
else await runPoint(Number(point))

/** one child per point, one at a time: a fresh heap, event loop and CPU clock for each */
async function drive (): Promise<void> {
  const list = (flagValue('peers') ?? '25,50,100').split(',').map(Number)
  if (list.some((n) => !Number.isInteger(n) || n < 2)) {
    throw new Error('--peers must be a list like 25,50,100 (each >= 2)')
  }
  if ((flagValue('profile') ?? flagValue('profile-rounds')) !== undefined && list.length !== 1) {
    throw new Error('--profile and --profile-rounds need exactly one --peers')
  }
  const points: Point[] = []
  for (const n of list) {
    const pass = ['--rounds', String(ROUNDS), '--idle-s', String(IDLE_S), '--settle-s', String(SETTLE_S)]
    for (const flag of ['profile', 'profile-rounds']) {
      const file = flagValue(flag)
      if (file !== undefined) pass.push(`--${flag}`, file)
    }
    if (LARGE_JOB !== undefined) pass.push('--large-job-members', LARGE_JOB)
    if (MAX_CONNECTED !== undefined) pass.push('--max-connected', MAX_CONNECTED)
    if (QUIET_FETCH !== undefined) pass.push('--quiet-fetch-ms', QUIET_FETCH)
    if (MIN_PEERS !== undefined) pass.push('--min-peers', MIN_PEERS)
    points.push(await child(n, pass))
    console.error(`scale ${n}: ${JSON.stringify(points.at(-1))}`)
  }
  console.log(JSON.stringify({ bench: 'scale', rounds: ROUNDS, settleS: SETTLE_S, idleS: IDLE_S, points }))
  if (points.some((p) => p.error !== undefined)) process.exitCode = 1
}

async function child (n: number, pass: string[]): Promise<Point> {
  const self = fileURLToPath(import.meta.url)
  const args = ['--expose-gc', '--import', 'tsx', self, '--point', String(n), ...pass]
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  // the child bounds its own waits; this is the backstop for a child that hangs anyway
  const limitMs = pointLimitMs(n) + 180_000 // + stopping the peers (30 s at most) and timers late on a full loop
  const killer = setTimeout(() => { proc.kill('SIGKILL') }, limitMs)
  const code = await new Promise<number | null>((resolve) => { proc.on('close', resolve) })
  clearTimeout(killer)
  const last = out.trim().split('\n').at(-1) ?? ''
  try {
    return JSON.parse(last) as Point
  } catch {
    return {
      peers: n, roundsCompleted: 0, overheadMs: null, gossipP99Ms: null, loopLagP99Ms: NaN, gossipP99LaterMs: null,
      loopLagP99LaterMs: null, cpuPerIdlePeerPct: NaN,
      rssPerPeerMB: NaN, connsPerPeer: NaN, duplicatePairs: NaN, gossipInPerPeerS: NaN, writesPerPeerS: null,
      liveInView: NaN, components: NaN, isolated: NaN,
      error: `point process exited ${code ?? 'by signal'} without a result`
    }
  }
}

/** start-up, rounds and idle window together; generous, as the machine may be loaded */
function pointLimitMs (n: number): number {
  return 60_000 + n * 3000 + ROUNDS * 60_000 + (SETTLE_S + IDLE_S) * 1000
}

async function runPoint (PEERS: number): Promise<void> {
  const gc = (): void => { (globalThis as { gc?: () => void }).gc?.() }
  gc()
  const rss0 = process.memoryUsage().rss
  const job = benchJob('bench-scale', ROUNDS, minPeers(PEERS))
  const jobId = jobIdOf(job)
  const dir = mkdtempSync(join(tmpdir(), 'fedit-bench-scale-'))
  // in a thread of its own, as in the simulation (a bootstrap is another machine): on the peers' loop (lagging seconds
  // with 100 of them) it answered joining peers late, and one of 100 sat with it alone for minutes. process.cpuUsage
  // counts the thread's CPU as it counted the bootstrap's before
  const boot = await startBootstrapThread()
  const peers: Peer[] = []
  let gossipIn = 0
  /** gossip messages the peers took in while rounds ran, by kind (each one is a signature check per peer) */
  const gossipKinds = new Map<string, number>()
  /** each Hello gossiped (`author/seqno`): when the first peer took it in, and how many peers did */
  const helloReach = new Map<string, { readonly first: number, readonly n: number }>()
  /** between the rounds and the idle window (helloReach counts late copies then) */
  let settling = false
  /** when every peer had started: the gossip counts above start there */
  let roundsFrom = Infinity
  const hellosSeen = new Map<string, { n: number, from: Set<string> }>()
  const announces = new Map<string, { sent?: number, received: number[] }>()
  /** the members each announce listed, by `sender/round/attempt` (FEDIT_SCALE_WHY: who a refuser did not know) */
  const listed = new Map<string, readonly string[]>()
  // FEDIT_SCALE_WHY, for the trainers that never trained: each announce's trainers and when it went, by
  // `sender/round/attempt`; when each peer first heard an announce and what it refused, by `peer/round(/attempt)`;
  // the trainers that trained, by `peer index/round/attempt`
  const chosen = new Map<string, { readonly at: number, readonly selected: readonly string[] }>()
  const heardAnnounce = new Map<string, number>()
  const refusedBy = new Map<string, string[]>()
  const trained = new Set<string>()
  /** members asks (node/members-exchange.ts) that failed or brought refused Hellos, by reason, the whole run */
  const membersRefused = new Map<string, number>()
  /** answered members asks by why they were asked ('joining', 'its'), the Hellos newer than the asker's each brought */
  const membersAsked = new Map<string, number[]>()
  /** the selected trainers' steps by round, attempt and step (announce accepted, push failed, refused) */
  const trainerSteps = new Map<string, number>()
  // the same announces as gossipsub hands them over (validated), before a peer accepts them; only while rounds run
  const delivered = new Map<string, { sent?: number, received: number[] }>()
  let inRounds = true
  /** FEDIT_SCALE_WHY: the aggregators' and trainers' lines of each round, in order */
  const roleLines: string[] = []
  /** by `peer/round`: when the first result of the round reached the peer, how long its global's fetch took */
  const resultSeen = new Map<string, number>()
  /** each adoption's fetch, and the quiet wait before it (member-role.ts), by `peer/round` */
  const fetchMs = new Map<string, { readonly fetch: number, readonly wait: number, readonly dialled: boolean,
    readonly early: boolean }>()
  const adoptedBy = new Map<string, number>()
  // why a round is slow (stderr): when each peer adopted each round, and the announces refused while rounds ran
  const adoptedAt = new Map<number, number[]>()
  const refused = new Map<string, number>()
  const deadline = Date.now() + pointLimitMs(PEERS)
  const joinBy = Date.now() + 60_000 + PEERS * 3000
  // a point prints its figures only at its end: a line every 30 s says where a point the backstop kills was (one
  // 100-peer point hung, nothing printed, in session 18); no line at all means its loop was blocked
  const started = Date.now()
  let phase = 'starting the peers'
  const progress = setInterval(() => {
    const round = peers.length === 0 ? 0 : Math.max(...peers.map((p) => p.global.round))
    process.stderr.write(`scale ${PEERS}: ${phase}, ${Math.round((Date.now() - started) / 1000)} s in, ` +
      `${peers.length} peers, the furthest at round ${round}\n`)
  }, 30_000)
  progress.unref()
  let error: string | undefined
  // each peer's last log lines, printed for the peers that end the point alone (why they are)
  const logs = new Map<number, string[]>()
  /** each peer's id, its last 6 characters (FEDIT_SCALE_WHY's lines) */
  const tags: string[] = []
  for (let i = 0; i < PEERS; i++) {
    const lines: string[] = []
    logs.set(i, lines)
    const p = createPeer({
      logger: (line) => {
        lines.push(`${new Date().toISOString().slice(11, 19)} ${line}`)
        if (lines.length > 12) lines.shift()
        // the roles' steps, trainers' and early fetches' included, each with the peer's id (the announces name ids)
        if (process.env.FEDIT_SCALE_WHY === '1' && /^round \d+.*(aggregating|no result|stopped sending|published|without us|superseded|refused our|witness|selected by|could not push|a role in|update taken|no connection to)/.test(line)) {
          roleLines.push(`${new Date().toISOString().slice(14, 23)} p${i}/${tags[i] ?? ''} ${line.slice(0, 150)}`)
        }
        // how long each adoption waited on its global's fetch (member-role.ts)
        const fg = /^round (\d+): global \w+ fetched in (\d+) ms(?: after a wait of (\d+) ms)?[^,]*(, from a source we dialled)?/
          .exec(line)
        if (fg !== null) {
          fetchMs.set(`${i}/${fg[1]}`, { fetch: Number(fg[2]), wait: Number(fg[3] ?? 0), dialled: fg[4] !== undefined,
            early: line.endsWith('fetched before its witnesses confirmed it') })
        }
        // the members asks that were answered (node/members-exchange.ts logs each), by the first word of why
        const m = /^members: \d+ Hellos from \w+ \((\w+)[^)]*\); (\d+) newer/.exec(line)
        if (m !== null) membersAsked.set(m[1]!, [...membersAsked.get(m[1]!) ?? [], Number(m[2])])
        // global adapters that could not be fetched from a source (global-fetch.ts): what slows adoption
        const f = /^fetch of \w+ from \w+ failed: (.{0,40})/.exec(line)
        if (f !== null) trainerSteps.set(`fetch failed: ${f[1]}`, (trainerSteps.get(`fetch failed: ${f[1]}`) ?? 0) + 1)
        // what the selected trainers did (member-role.ts logs each step): a missing update's other side
        const t = /^round (\d+)(?: \(failover (\d+)\))?: (selected by|could not push|aggregator refused|no valid receipt)/
          .exec(line)
        if (t !== null) {
          if (t[3] === 'selected by') trained.add(`${i}/${t[1]}/${t[2] ?? 0}`)
          const why = t[3] === 'could not push' || t[3] === 'aggregator refused' ? ` (${line.split('(')[1]}` : ''
          const k = `round ${t[1]} attempt ${t[2] ?? 0}: ${t[3]}${why}`
          trainerSteps.set(k, (trainerSteps.get(k) ?? 0) + 1)
        }
      },
      job, jobId,
      trainer: createFakeTrainer({ lora: { ...job.lora }, layers: 4, dim: 64 }),
      aggregate: buildAggregator(FEDAVG),
      stateDir: join(dir, `p${i}`),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [...boot.addrs],
      local: true,
      timing: {
        ...(LARGE_JOB !== undefined ? { largeJobMembers: Number(LARGE_JOB) } : {}),
        ...(MAX_CONNECTED !== undefined ? { maxConnectedPeers: Number(MAX_CONNECTED) } : {}),
        ...(QUIET_FETCH !== undefined ? { quietFetchMs: Number(QUIET_FETCH) } : {})
      }
    })
    p.events.on('announce', (a) => {
      const k = `${a.round}/${a.attempt}`
      const e = announces.get(k) ?? { received: [] }
      if (a.mine) e.sent = a.at; else e.received.push(a.at)
      announces.set(k, e)
      if (a.mine) listed.set(`${a.aggregator}/${a.round}/${a.attempt}`, a.members)
      if (a.mine) chosen.set(`${a.aggregator}/${a.round}/${a.attempt}`, { at: a.at, selected: a.selected })
    })
    p.events.on('result', (info) => {
      adoptedAt.set(info.round, [...adoptedAt.get(info.round) ?? [], Date.now()])
      adoptedBy.set(`${i}/${info.round}`, Date.now())
    })
    p.events.on('rejected', (r) => {
      if (r.where === 'members') {
        const label = r.reason.split(':')[0]!
        membersRefused.set(label, (membersRefused.get(label) ?? 0) + 1)
      }
      if (inRounds && r.where === 'result') {
        const k = `result ${r.reason.split(':')[0]!}`
        trainerSteps.set(k, (trainerSteps.get(k) ?? 0) + 1)
      }
      if (!inRounds || r.where !== 'announce') return
      const label = r.reason.split(':')[0]!
      refused.set(label, (refused.get(label) ?? 0) + 1)
      if (process.env.FEDIT_SCALE_WHY !== '1') return
      // of the members an announce listed that we do not count: not live in our view, or live but young to us
      const missing = label !== 'unknown_members' ? undefined : [...listed.entries()]
        .find(([k]) => k.startsWith(`${r.from}/${r.round}/`))?.[1].filter((m) => !p.members().includes(m))
      const unknown = missing?.length
      // the first few it does not count, as it and the announce's sender last heard them: a Hello lapsed, or none
      const heard = (q: Peer | undefined, m: string): string => {
        const h = q?.lastHello(m)
        return h === undefined ? 'never' : `${((Date.now() - h.seenAt) / 1000).toFixed(1)} s ago/${h.intervalMs} ms`
      }
      const sender = peers.find((q) => q.peerId === r.from)
      const which = (missing ?? []).slice(0, 3)
        .map((m) => `${m.slice(-6)} (${heard(p, m)}; sender ${heard(sender, m)})`)
      const rk = `${i}/${r.round}`
      if ((refusedBy.get(rk)?.length ?? 0) < 4) {
        const notLive = label === 'unknown_members' ? `, ${unknown ?? '?'} not live` : ''
        refusedBy.set(rk, [...refusedBy.get(rk) ?? [], `${r.reason.slice(0, 40)}${notLive} from ${r.from.slice(-6)} ` +
          `at ${new Date().toISOString().slice(14, 23)}`])
      }
      // who refuses and where it stands: a few lines per reason
      if ((refused.get(label) ?? 0) <= 12) {
        process.stderr.write(`  p${i} refused ${r.reason} from ${r.from.slice(-6)} (round ${r.round}): at round ` +
          `${p.global.round} ${p.global.hash.slice(0, 8)}, ${p.members().length} live in its view` +
          (label === 'unknown_members' ? `, ${unknown ?? '?'} of the listed not live in it: ${which.join(', ')}` : '') +
          '\n')
      }
    })
    startedAt.set(p, Date.now())
    await p.start()
    const ids = new Set<string>()
    identified.set(p, ids)
    p.libp2p.addEventListener('peer:identify', (evt) => { ids.add(evt.detail.peerId.toString()) })
    // paced, within the start-up's share of the point's time (a loaded machine must still leave time for rounds)
    if (Date.now() < joinBy) await firstConnection(p.libp2p, Math.min(30_000, joinBy - Date.now()))
    p.libp2p.services.pubsub.addEventListener('message', (evt) => {
      gossipIn++
      if (evt.detail.type !== 'signed' || (!inRounds && !settling)) return
      const mk = `${evt.detail.from.toString()}/${evt.detail.sequenceNumber}`
      const reached = helloReach.get(mk)
      // while settling, the late copies of the Hellos sent while the rounds ran
      if (!inRounds) { if (reached !== undefined) helloReach.set(mk, { ...reached, n: reached.n + 1 }); return }
      const m = RoundMessage.decode(evt.detail.data)
      const kind = Object.keys(m).find((k) => m[k as keyof RoundMessage] !== undefined) ?? 'other'
      if (Date.now() >= roundsFrom) gossipKinds.set(kind, (gossipKinds.get(kind) ?? 0) + 1)
      // from the start: a Hello sent before the rounds reaches most peers before them and late joiners after
      if (m.hello !== undefined) helloReach.set(mk, { first: reached?.first ?? Date.now(), n: (reached?.n ?? 0) + 1 })
      // what the Hellos are (one peer's receipts: each Hello once): at the heartbeat (a role, or a small view) or
      // quiet, and from a peer at the job's round or behind it
      if (m.hello !== undefined && p === peers[0] && Date.now() >= roundsFrom) {
        const k = `${m.hello.intervalMs <= p.timing.heartbeatMs ? 'heartbeat' : 'quiet'}, ` +
          `${m.hello.round >= Math.max(...peers.map((q) => q.global.round)) ? 'at the job\'s round' : 'behind'}`
        const e = hellosSeen.get(k) ?? { n: 0, from: new Set<string>() }
        e.n++
        e.from.add(evt.detail.from.toString())
        hellosSeen.set(k, e)
      }
      if (m.result !== undefined && !resultSeen.has(`${i}/${m.result.round}`)) {
        resultSeen.set(`${i}/${m.result.round}`, Date.now())
      }
      const a = m.announce
      if (a === undefined) return
      const hk = `${i}/${a.round}/${a.attempt}`
      if (!heardAnnounce.has(hk)) heardAnnounce.set(hk, Date.now())
      const k = `${a.round}/${a.attempt}`
      const e = delivered.get(k) ?? { received: [] }
      e.received.push(Date.now())
      delivered.set(k, e)
    })
    peers.push(p)
    tags[i] = p.peerId.slice(-6)
  }
  phase = 'running the rounds'
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  // the same over the rounds after the first: the first one runs while peers are still joining (handshakes, DHT
  // walks, Hellos at the heartbeat), the later ones in a job that has formed
  const lagLater = monitorEventLoopDelay({ resolution: 10 })
  const tRounds = roundsFrom = Date.now()
  // the job's progress: the rounds its aggregators completed (a peer behind catches up in the idle window)
  const jobRound = (): number => Math.max(...peers.map((p) => p.global.round))
  const done = (): boolean => jobRound() >= ROUNDS
  const roundsBy = deadline - (SETTLE_S + IDLE_S) * 1000
  const roundProfile = flagValue('profile-rounds') !== undefined ? new Session() : undefined
  let profiling: Promise<unknown> | undefined
  const meshSamples: string[] = []
  let lastMeshSample = 0
  /** where the later rounds began: wall clock, process CPU, write syscalls */
  let later: { readonly at: number, readonly cpu: NodeJS.CpuUsage, readonly writes: number | undefined } | undefined
  await until(() => {
    if (Date.now() - lastMeshSample > 2000) { lastMeshSample = Date.now(); meshSamples.push(meshShape(peers, jobId)) }
    if (jobRound() >= 1) lagLater.enable() // enabling twice is a no-op
    if (jobRound() >= 1 && later === undefined) {
      later = { at: Date.now(), cpu: process.cpuUsage(), writes: writeSyscalls() }
    }
    if (jobRound() >= 1 && roundProfile !== undefined && profiling === undefined) {
      roundProfile.connect()
      profiling = roundProfile.post('Profiler.enable').then(async () => await roundProfile.post('Profiler.start'))
    }
    return done() || Date.now() >= roundsBy
  })
  if (profiling !== undefined) {
    await profiling
    writeFileSync(flagValue('profile-rounds')!, JSON.stringify((await roundProfile!.post('Profiler.stop')).profile))
  }
  lag.disable()
  lagLater.disable()
  inRounds = false
  // the later rounds' load: the process's CPU time as cores (1 or more: the loop had no idle time left, bar the
  // helper threads) and its write syscalls per peer per second (frames out: gossip copies, transfers, control)
  let cpuCoresLater: number | null = null
  let writesPerPeerSLater: number | null = null
  if (later !== undefined && Date.now() - later.at >= 1000) {
    const wallS = (Date.now() - later.at) / 1000
    const cpu = process.cpuUsage(later.cpu)
    cpuCoresLater = +((cpu.user + cpu.system) / 1e6 / wallS).toFixed(2)
    const w = writeSyscalls()
    if (w !== undefined && later.writes !== undefined) {
      writesPerPeerSLater = +((w - later.writes) / PEERS / wallS).toFixed(1)
    }
  }
  for (const [k, e] of delivered) e.sent = announces.get(k)?.sent
  if (!done()) error = `${ROUNDS} rounds did not complete in ${Math.round((Date.now() - tRounds) / 1000)} s`
  const roundsCompleted = jobRound()
  // each round as a peer that adopted its result saw it: one that caught up past a round logs it as missed, 0 s,
  // and a run whose reporting peer caught up made its overhead look shorter (roundS [33.1, 0, 60.2])
  const seen = new Map<number, Peer['rounds'][number]>()
  for (const p of peers) for (const r of p.rounds) if (r.missed !== true && !seen.has(r.round)) seen.set(r.round, r)
  const rounds = [...seen.values()].sort((a, b) => a.round - b.round)
  const overheadMs = rounds.length > 0
    ? Math.round(rounds.reduce((s, r) => s + r.seconds * 1000, 0) / rounds.length)
    : null
  // what an adoption waited on: from the round's first result reaching the peer to the fetch of its global (the
  // witnesses' attestations), then the fetch; the peers that fetched it, those with a role in the next round (no
  // quiet wait, member-role.ts) apart
  const adoptionWaits = (round: number): string => {
    const confirm: number[] = []
    const fetch: number[] = []
    const roleFetch: number[] = []
    const held: number[] = []
    /** result to adoption, of those whose global was fetched early (node/early-fetch.ts) and of the others */
    const [early, late]: [number[], number[]] = [[], []]
    for (let i = 0; i < PEERS; i++) {
      const seen = resultSeen.get(`${i}/${round}`)
      const done = adoptedBy.get(`${i}/${round}`)
      const f = fetchMs.get(`${i}/${round}`)
      if (seen === undefined || done === undefined || f === undefined) continue
      confirm.push(done - f.fetch - f.wait - seen)
      fetch.push(f.fetch)
      if (f.wait === 0) roleFetch.push(f.fetch)
      if (!f.dialled) held.push(f.fetch)
      ;(f.early ? early : late).push(done - seen)
    }
    const q = (a: number[], p: number): number =>
      a.sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]!
    const roles = roleFetch.length === fetch.length || roleFetch.length === 0 ? ''
      : `; ${roleFetch.length} without a quiet wait: fetch median ${q(roleFetch, 0.5)} ms, p90 ${q(roleFetch, 0.9)} ms`
    return confirm.length === 0 ? 'no fetches seen' : `${confirm.length} fetched: result to confirmed median ` +
      `${q(confirm, 0.5)} ms, p90 ${q(confirm, 0.9)} ms; fetch median ${q(fetch, 0.5)} ms, p90 ${q(fetch, 0.9)} ms` +
      roles + `; ${held.length} over a connection held` + (held.length > 0 ? ` (median ${q(held, 0.5)} ms)` : '') +
      (early.length > 0 ? `; result to adopted, median: ${early.length} fetched early ${q(early, 0.5)} ms, ` +
        `the others ${late.length > 0 ? q(late, 0.5) : '-'} ms` : '')
  }
  for (const r of rounds) {
    const at = (adoptedAt.get(r.round) ?? []).sort((a, b) => a - b)
    const spread = (q: number): number =>
      at.length === 0 ? NaN : at[Math.min(at.length - 1, Math.floor(q * at.length))]! - at[0]!
    const why = new Map<string, number>()
    for (const x of r.excluded) why.set(x.reason.split(':')[0]!, (why.get(x.reason.split(':')[0]!) ?? 0) + 1)
    process.stderr.write(`round ${r.round} (attempt ${r.attempt}): ${r.seconds.toFixed(1)} s, included ` +
      `${r.included.length}, excluded ${JSON.stringify(Object.fromEntries(why))}; adopted by ${at.length} peers, ` +
      `the median ${spread(0.5)} ms and p99 ${spread(0.99)} ms after the first; ${adoptionWaits(r.round)}\n`)
  }
  for (const l of roleLines) process.stderr.write(`  ${l}\n`)
  // each trainer an announce named that never trained for it: did the announce reach it, had it adopted the round
  // before, and what did it refuse
  for (const [k, c] of chosen) {
    const [, round, attempt] = k.split('/').map(Number) as [number, number, number]
    for (const s of c.selected) {
      const j = peers.findIndex((p) => p.peerId === s)
      if (j < 0 || trained.has(`${j}/${round}/${attempt}`) || k.startsWith(`${s}/`)) continue
      const heard = heardAnnounce.get(`${j}/${round}/${attempt}`)
      const adopted = adoptedBy.get(`${j}/${round - 1}`)
      process.stderr.write(`  round ${round} attempt ${attempt}: trainer p${j}/${s.slice(-6)} did not train: ` +
        `announce ${heard === undefined ? 'never heard' : `heard ${heard - c.at} ms after it went`}; round ` +
        `${round - 1} ${adopted === undefined ? 'not adopted' : `adopted ${adopted - c.at} ms after it`}; refused ` +
        `${JSON.stringify(refusedBy.get(`${j}/${round}`) ?? [])}\n`)
    }
  }
  process.stderr.write(`announces refused while rounds ran: ${JSON.stringify(Object.fromEntries(refused))}\n`)
  const roundsS = (Date.now() - tRounds) / 1000
  process.stderr.write(`gossip taken in while rounds ran, per peer per second, by kind: ${JSON.stringify(
    Object.fromEntries([...gossipKinds].map(([k, n]) => [k, +(n / PEERS / roundsS).toFixed(2)])))}\n`)
  for (const [k, e] of hellosSeen) {
    process.stderr.write(`Hellos while rounds ran (${k}): ${e.n} from ${e.from.size} peers\n`)
  }
  process.stderr.write(`members asks that failed, by reason: ${JSON.stringify(Object.fromEntries(membersRefused))}\n`)
  for (const [k, n] of [...trainerSteps].sort()) process.stderr.write(`trainers, ${k}: ${n}\n`)
  for (const [why, news] of membersAsked) {
    process.stderr.write(`members asks answered (${why}): ${news.length}, Hellos newer than the asker's: ` +
      `median ${news.sort((a, b) => a - b)[Math.floor(news.length / 2)]}, total ${news.reduce((a, b) => a + b, 0)}\n`)
  }
  const gossipP99Ms = announceP99(announces, () => true)
  const gossipP99LaterMs = announceP99(announces, (round) => round >= 2)
  const deliveryP99Ms = announceP99(delivered, () => true)
  const deliveryP99LaterMs = announceP99(delivered, (round) => round >= 2)

  // the idle window: the job is done (or stuck), every peer stays joined
  phase = 'settling, then the idle window'
  settling = true
  await new Promise((resolve) => setTimeout(resolve, SETTLE_S * 1000))
  settling = false
  // whether gossip loses Hellos: one a peer misses can leave its sender out of that peer's view until its next one (a
  // long interval later for a quiet member), and an announce listing the sender is then refused there
  const reach = [...helloReach.values()].filter((e) => e.first >= roundsFrom).map((e) => e.n / (PEERS - 1))
  if (reach.length > 0) {
    process.stderr.write(`Hellos sent while rounds ran, the share of the other peers each reached by the end of the ` +
      `settle period: mean ${(reach.reduce((a, b) => a + b, 0) / reach.length).toFixed(3)}, ${
      reach.filter((r) => r < 0.9).length} of ${reach.length} under 90 %, the least ${Math.min(...reach).toFixed(2)}\n`)
  }
  const prof = flagValue('profile') !== undefined ? new Session() : undefined
  if (prof !== undefined) { prof.connect(); await prof.post('Profiler.enable'); await prof.post('Profiler.start') }
  const cpu0 = process.cpuUsage()
  const writes0 = writeSyscalls()
  const in0 = gossipIn
  const t0 = performance.now()
  await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1000))
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - t0
  const gossipInPerPeerS = (gossipIn - in0) / PEERS / (wallMs / 1000)
  const writes1 = writeSyscalls()
  const writesPerPeerS = writes0 === undefined || writes1 === undefined ? null
    : +((writes1 - writes0) / PEERS / (wallMs / 1000)).toFixed(1)
  if (prof !== undefined) {
    writeFileSync(flagValue('profile')!, JSON.stringify((await prof.post('Profiler.stop')).profile))
  }
  const connsPerPeer = peers.reduce((s, p) => s + p.libp2p.getConnections().length, 0) / PEERS
  // how many mesh peers each peer holds on the job's topic (gossip reaches a peer outside every mesh only by
  // IHAVE at a heartbeat): the distribution, mesh size -> peers
  const meshes = new Map<number, number>()
  for (const p of peers) {
    // the implementation's, not on the GossipSub interface
    const pubsub = p.libp2p.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }
    const n = pubsub.getMeshPeers(roundsTopic(jobId)).length
    meshes.set(n, (meshes.get(n) ?? 0) + 1)
  }
  process.stderr.write(`mesh size on the topic -> peers: ${JSON.stringify(Object.fromEntries(meshes))}\n`)
  process.stderr.write(`mesh shapes while rounds ran (every 2 s): ${meshSamples.join(' | ')}; ` +
    `at the end ${meshShape(peers, jobId)}\n`)
  const duplicatePairs = peers.reduce((s, p) => s + duplicates(p), 0) / 2
  const trimmedPerPeer = +(peers.reduce((s, p) => s + p.trimmedPeers, 0) / PEERS).toFixed(1)
  const components = groups(peers)
  const ids = new Set(peers.map((p) => p.peerId))
  const alone = peers.filter((p) => !p.libp2p.getConnections().some((c) => ids.has(c.remotePeer.toString())))
  const isolated = alone.length
  for (const p of alone) {
    const i = peers.indexOf(p)
    process.stderr.write(`peer ${i} (${p.peerId.slice(-6)}) alone: ${p.libp2p.getConnections().length} connections ` +
      `(none to the job's peers), ${p.members().length} live in its view, trimmed ${p.trimmedPeers}; ` +
      `its last lines:\n` +
      (logs.get(i) ?? []).map((l) => `  ${l}\n`).join(''))
  }
  const liveInView = peers.reduce((s, p) => s + p.members().length, 0) / PEERS / PEERS
  // a job in pieces costs each peer less than a whole one: its figures would flatter the code, so they are not a result
  if (components > 1) {
    error = `${error !== undefined ? `${error}; ` : ''}the job is ${components} groups, ${isolated} peers alone`
  }
  gc()
  const rssPerPeerMB = (process.memoryUsage().rss - rss0) / 2 ** 20 / PEERS
  const cpuPerIdlePeerPct = (cpu.user + cpu.system) / 1000 / wallMs / PEERS * 100
  phase = 'stopping the peers'
  await Promise.race([
    Promise.all(peers.map(async (p) => await p.stop())).then(async () => await boot.stop()),
    new Promise((resolve) => setTimeout(resolve, 30_000))
  ])
  clearInterval(progress)
  rmSync(dir, { recursive: true, force: true })
  const result: Point = {
    peers: PEERS, roundsCompleted, overheadMs, roundS: rounds.map((r) => +r.seconds.toFixed(1)), gossipP99Ms,
    loopLagP99Ms: Math.round(lag.percentile(99) / 1e6),
    gossipP99LaterMs,
    deliveryP99Ms,
    deliveryP99LaterMs,
    loopLagP99LaterMs: ROUNDS >= 2 && lagLater.count > 0 ? Math.round(lagLater.percentile(99) / 1e6) : null,
    cpuCoresLater,
    writesPerPeerSLater,
    cpuPerIdlePeerPct: +cpuPerIdlePeerPct.toFixed(2),
    rssPerPeerMB: +rssPerPeerMB.toFixed(1),
    connsPerPeer: +connsPerPeer.toFixed(1),
    trimmedPerPeer,
    duplicatePairs,
    gossipInPerPeerS: +gossipInPerPeerS.toFixed(2),
    writesPerPeerS,
    liveInView: +liveInView.toFixed(3),
    components,
    isolated,
    ...(error !== undefined ? { error } : {})
  }
  console.log(JSON.stringify(result))
  process.exit(0)
}

/** p99 of announce delivery (receipt - publication) over the announces of the rounds `which` keeps */
function announceP99 (announces: ReadonlyMap<string, { sent?: number, received: number[] }>,
  which: (round: number) => boolean): number | null {
  const lat: number[] = []
  for (const [k, e] of announces) {
    if (e.sent !== undefined && which(Number(k.split('/')[0]))) for (const r of e.received) lat.push(r - e.sent)
  }
  lat.sort((a, b) => a - b)
  return lat.length > 0 ? lat[Math.min(lat.length - 1, Math.floor(0.99 * lat.length))]! : null
}

/** connected components of the peers' connection graph (connections to the bootstrap left out) */
function groups (peers: readonly Peer[]): number {
  const ids = new Set(peers.map((p) => p.peerId))
  const parent = new Map([...ids].map((id) => [id, id]))
  const find = (x: string): string => { while (parent.get(x) !== x) x = parent.get(x)!; return x }
  for (const p of peers) {
    for (const c of p.libp2p.getConnections()) {
      const r = c.remotePeer.toString()
      if (ids.has(r)) parent.set(find(p.peerId), find(r))
    }
  }
  return new Set([...ids].map(find)).size
}

/** the job's mesh graph: its components' sizes and the one-sided mesh links (A meshes B, B not A) */
function meshShape (peers: readonly Peer[], jobId: string): string {
  const mesh = new Map(peers.map((p) => [p.peerId, new Set((p.libp2p.services.pubsub as unknown as
    { getMeshPeers: (topic: string) => string[] }).getMeshPeers(roundsTopic(jobId)))]))
  const parent = new Map([...mesh.keys()].map((id) => [id, id]))
  const find = (x: string): string => { while (parent.get(x) !== x) x = parent.get(x)!; return x }
  let oneSided = 0
  for (const [a, bs] of mesh) {
    for (const b of bs) {
      if (!mesh.has(b)) continue
      if (mesh.get(b)!.has(a)) parent.set(find(a), find(b)); else oneSided++
    }
  }
  const sizes = new Map<string, number>()
  for (const id of mesh.keys()) sizes.set(find(id), (sizes.get(find(id)) ?? 0) + 1)
  const lone = peers.filter((p) => [...sizes].some(([root, n]) => n === 1 && find(p.peerId) === root)).map((p) => {
    const ps = p.libp2p.services.pubsub as unknown as { getSubscribers: (t: string) => unknown[],
      backoff: Map<string, Map<string, number>>, getMeshPeers: (topic: string) => string[],
      streamsOutbound: Map<string, unknown>, streamsInbound: Map<string, unknown> }
    return `${p.libp2p.getConnections().length}c/${ps.getSubscribers(roundsTopic(jobId)).length}s/` +
      `${ps.backoff.get(roundsTopic(jobId))?.size ?? 0}b/${ps.getMeshPeers(roundsTopic(jobId)).length}m/` +
      `${ps.streamsOutbound.size}o/${ps.streamsInbound.size}i/${unidentified(p).length}u/` +
      `${Math.round((Date.now() - (startedAt.get(p) ?? 0)) / 1000)}s` + described(unidentified(p))
  })
  return `${[...sizes.values()].sort((x, y) => y - x).join('+')} (${oneSided} one-sided) lone ${lone.join(',')}`
}

/**
 * The connections `p` has not identified. A joiner's fresh dials wait here seconds on a saturated loop, and gossipsub
 * opens no stream on them until identify says the remote speaks it.
 */
function unidentified (p: Peer): Connection[] {
  return p.libp2p.getConnections().filter((c) => identified.get(p)?.has(c.remotePeer.toString()) !== true)
}

/** each connection's direction, age in seconds and its streams (direction and protocol, empty while
 * multistream-select still negotiates it) */
function described (u: readonly Connection[]): string {
  if (u.length === 0) return ''
  const streams = (c: Connection): string => c.streams.map((st) =>
    `${st.direction[0]}:${st.protocol.replace(/^\/(ipfs|fedit|meshsub)\//, '')}`).join('+')
  return `[${u.map((c) => `${c.direction[0]}${Math.round((Date.now() - c.timeline.open) / 1000)}s ${streams(c)}`)
    .join(', ')}]`
}

/** remote peers `p` holds more than one open connection to (each pair counts at both its ends) */
function duplicates (p: Peer): number {
  const per = new Map<string, number>()
  for (const c of p.libp2p.getConnections()) {
    if (c.status === 'open') per.set(c.remotePeer.toString(), (per.get(c.remotePeer.toString()) ?? 0) + 1)
  }
  return [...per.values()].filter((n) => n > 1).length
}

async function until (cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 100))
}

/** The process's write syscalls so far (Linux /proc/self/io), undefined where there is no such file. */
function writeSyscalls (): number | undefined {
  try {
    const m = /^syscw: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))
    return m === null ? undefined : Number(m[1])
  } catch { return undefined }
}
