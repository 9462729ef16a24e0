// What a peer shows of itself (fedit status, the dashboard, the control socket): one JSON shape, built by
// the observer while the peer runs and from the state folder alone when it is stopped.
import { formatRound } from '../round-info.ts'
import type { RoundInfo } from '../round-info.ts'
import type { MemberReachability } from '../reachability.ts'

export interface MemberSnapshot {
  readonly peer: string
  readonly self: boolean
  /** rounds completed, as its last Hello said */
  readonly round: number
  readonly hash: string
  readonly device: string
  readonly tokensPerSecond: number
  readonly samples: number
  /** in the current round: the aggregator, a selected trainer, or neither */
  readonly role: 'aggregator' | 'selected' | 'member'
  /** ms since its last Hello (0 for this peer) */
  readonly lastSeenMs: number
  /** what its last Hello said (this peer: what its next one says): dialable directly, through a relay only, ... */
  readonly reachability: MemberReachability
}

export interface TrainingSnapshot {
  /** the round being trained now, or undefined */
  readonly activeRound?: number
  /** Date.now() when the current training began */
  readonly startedAt?: number
  /** optimizer steps of the current training done so far, of totalSteps (from the trainer's step callback) */
  readonly step?: number
  readonly totalSteps?: number
  /** the latest step's loss */
  readonly stepLoss?: number
  /** the previous training's wall time */
  readonly lastSeconds?: number
  readonly lastRound?: number
  readonly lastLoss?: number
  readonly lastSamples?: number
  readonly tokensPerSecond: number
  readonly roundsTrained: number
}

export interface PeerSnapshot {
  readonly version: 1
  /** false: read from the state folder of a stopped peer */
  readonly running: boolean
  readonly at: number
  readonly peerId: string
  readonly jobId: string
  readonly jobName?: string
  readonly jobRounds?: number
  readonly peersPerRound?: number
  readonly minPeers?: number
  readonly stage?: string
  readonly stageSince?: number
  /** rounds completed (the global adapter's round) and its hash */
  readonly completed: number
  readonly globalHash: string
  /** the round in progress: announced attempt, its aggregator and trainers (absent before the announce) */
  readonly current?: {
    readonly round: number
    readonly attempt?: number
    readonly aggregator?: string
    readonly selected?: readonly string[]
  }
  readonly members: readonly MemberSnapshot[]
  readonly reachability?: { readonly addresses: readonly string[], readonly connections: number }
  readonly training?: TrainingSnapshot
  /** the newest completed rounds, oldest first (at most ROUNDS_KEPT) */
  readonly rounds: readonly RoundInfo[]
  readonly counters?: {
    readonly electionWins: number
    readonly failovers: number
    /** where:reason -> count */
    readonly rejected: Readonly<Record<string, number>>
  }
}

/** rounds a snapshot carries: a dashboard's timeline and loss curve, without growing with a long job */
export const ROUNDS_KEPT = 500

/** Human-readable lines of a snapshot (fedit status without --json); pure. */
export function formatSnapshot (s: PeerSnapshot): string {
  const short = (p: string): string => p.slice(-6)
  const failover = (a: number | undefined): string => a !== undefined && a > 0 ? ` (failover ${a})` : ''
  const lines: string[] = []
  lines.push(`peer      ${s.peerId}${s.running ? '' : ' (not running: from the state folder)'}`)
  lines.push(`job       ${s.jobName !== undefined ? `${s.jobName} ` : ''}${s.jobId.slice(0, 16)}…`)
  const of = s.jobRounds !== undefined ? `/${s.jobRounds}` : ''
  lines.push(`round     ${s.completed}${of} completed${s.stage !== undefined ? `; stage ${s.stage}` : ''}`)
  const cur = s.current
  if (cur?.aggregator !== undefined) {
    lines.push(`current   round ${cur.round}${failover(cur.attempt)}: aggregator ${short(cur.aggregator)}, ` +
      `selected ${(cur.selected ?? []).map(short).join(',')}`)
  }
  lines.push(`global    ${s.globalHash}`)
  const reach = s.reachability
  if (reach !== undefined) {
    lines.push(`reach     ${reach.connections} connections; ${reach.addresses.join(' ') || 'no addresses'}`)
  }
  if (s.running) {
    const role = (m: MemberSnapshot): string => m.role === 'member' ? `r${m.round}` : m.role
    const who = s.members.map((m) => `${short(m.peer)}${m.self ? '*' : ''}(${role(m)}, ${m.reachability})`)
    lines.push(`members   ${s.members.length} live: ${who.join(' ')}`)
  }
  const t = s.training
  if (t !== undefined) {
    const now = t.activeRound !== undefined ? `training round ${t.activeRound}: ${trainingNow(t, s.at)}; ` : ''
    const last = t.lastRound !== undefined
      ? `last: round ${t.lastRound}, loss ${fixed(t.lastLoss, 4)}, ${t.lastSamples ?? '?'} examples, ` +
        `${fixed(t.lastSeconds, 1)} s; `
      : ''
    lines.push(`training  ${now}${last}${Math.round(t.tokensPerSecond)} tok/s, ${t.roundsTrained} rounds trained`)
  }
  const c = s.counters
  if (c !== undefined) {
    const rej = Object.entries(c.rejected).map(([k, v]) => `${k}=${v}`).join(' ')
    const refused = rej !== '' ? `, rejected ${rej}` : ''
    lines.push(`counters  elections won ${c.electionWins}, failovers ${c.failovers}${refused}`)
  }
  const recent = s.rounds.slice(-5)
  if (recent.length > 0) lines.push('last results:')
  for (const r of recent) {
    if (r.missed === true) { lines.push(`  ${formatRound(r, '')}`); continue }
    const ex = r.excluded.length > 0
      ? ` excluded ${r.excluded.map((x) => `${short(x.peer)}(${x.reason})`).join(',')}`
      : ''
    lines.push(`  round ${r.round}${failover(r.attempt)}: aggregator ${short(r.aggregator)}, ` +
      `included ${r.included.length}/${r.selected.length}${ex}, trainLoss ${r.trainLoss.toFixed(4)}, ` +
      `${r.seconds.toFixed(1)} s, ${(r.bytes / 1e6).toFixed(2)} MB, global ${r.hash.slice(0, 12)}`)
  }
  return lines.join('\n')
}

/** Where the current training stands: steps, the latest loss and the time left at the steps' pace so far. */
export function trainingNow (t: TrainingSnapshot, at: number): string {
  const elapsed = (at - (t.startedAt ?? at)) / 1000
  if (t.step === undefined || t.totalSteps === undefined || t.step === 0) {
    return `${elapsed.toFixed(0)} s, no step yet`
  }
  const eta = elapsed / t.step * (t.totalSteps - t.step)
  return `step ${t.step}/${t.totalSteps}, loss ${fixed(t.stepLoss, 4)}, ` +
    `${elapsed.toFixed(0)} s, ETA ${eta.toFixed(0)} s`
}

function fixed (x: number | undefined, d: number): string {
  return x === undefined ? '?' : x.toFixed(d)
}
