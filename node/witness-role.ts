// The witness role: when the seeded draw makes us a witness of a result, fetch the updates it names from its
// aggregator (who serves them until the round is final), check their signatures, recompute the filters and the
// aggregate from our own copy of the base, and publish a signed Attestation: agree only when the included set
// and the new adapter's hash are exactly what we computed. The job's history the result starts from must be the
// previous result's (or a reset nobody can contest, protocol/history-rules.ts), and the history after it must be
// the one we computed, bit for bit.
import type { PrivateKey } from '@libp2p/interface'
import type { Attestation, RoundResult, UpdateCommit } from '../protocol/messages.ts'
import { attestationStatement, checkCommitments } from '../protocol/signed-update.ts'
import { sign, verifySigned } from './signatures.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import type { AggregateFn, ClientUpdate } from '../trainer/aggregate/types.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { decodeAdapter } from './adapter-codec.ts'
import type { AdapterLayout } from './adapter-codec.ts'
import { aggregateRound } from './round-aggregate.ts'
import { hex } from './hex.ts'
import { checkHistoryBase } from '../protocol/history-rules.ts'
import type { JobHistory } from '../trainer/aggregate/history.ts'
import pLimit from 'p-limit'

/** updates a witness fetches from the aggregator at once (its server takes 16 streams a connection) */
const PARALLEL_FETCHES = 4

export interface WitnessDeps {
  readonly jobId: string
  readonly peerId: string
  readonly key: PrivateKey
  readonly layout: AdapterLayout
  readonly maxAdapterBytes: number
  readonly aggregate: AggregateFn
  /** the bytes of `hash` from `from` (sha256-checked by the transfer) */
  readonly fetch: (from: string, hash: string) => Promise<Uint8Array>
  /** the job history `hash` (not '') from our store, `from`, or members on our global; undefined: none had it */
  readonly history: (hash: string, from: readonly string[]) => Promise<JobHistory | undefined>
}

export interface Verdict {
  readonly agree: boolean
  /** we cannot judge (our global's history is unknown to us, or an update could not be had): no attestation */
  readonly abstain?: boolean
  readonly reason: string
  /** update bytes fetched, and the seconds the whole check took: the price of witnessing (bench round) */
  readonly bytes: number
  readonly seconds: number
  /**
   * agreed: the new adapter and history as we computed them (their hashes are the result's), so we adopt without a
   * fetch and serve them beside the aggregator: ~100 members fetching from it alone timed out (one process)
   */
  readonly computed?: { readonly adapter: Uint8Array, readonly history?: { readonly hash: string,
    readonly bytes: Uint8Array } }
}

/**
 * Recomputes result `r` of `aggregator` on `base` (our global adapter, the result's base) and `prior` (the hash of
 * the history our global's result named, '' : the empty one, undefined: unknown to us).
 */
export async function judgeResult (d: WitnessDeps, r: RoundResult, aggregator: string,
  base: Adapter, prior: string | undefined): Promise<Verdict> {
  const t0 = performance.now()
  let bytes = 0
  const verdict = (agree: boolean, reason = ''): Verdict => ({ agree, reason, bytes,
    seconds: (performance.now() - t0) / 1000 })
  const commits = await checkCommitments(r, verifySigned)
  if (!commits.ok) return verdict(false, commits.reason)
  const startsFrom = hex(r.historyBase ?? new Uint8Array(0))
  const hb = checkHistoryBase(prior, startsFrom)
  let history: JobHistory | undefined
  if (hb.kind === 'unknown') return { ...verdict(false, 'the history our global came with is unknown'), abstain: true }
  if (hb.kind === 'forged') {
    return verdict(false, `${RejectReason.HistoryForged}: starts from ${startsFrom.slice(0, 12)}, not the previous ` +
      `result's ${prior === '' ? '(empty)' : prior!.slice(0, 12)}`)
  }
  if (hb.kind === 'reset' && hb.wiped !== undefined && await d.history(hb.wiped, [aggregator]) !== undefined) {
    return verdict(false, `${RejectReason.HistoryReset}: history ${hb.wiped.slice(0, 12)} can be had`)
  }
  if (hb.kind === 'continue' && hb.hash !== '') {
    history = await d.history(hb.hash, [aggregator])
    if (history === undefined) return verdict(false, `${RejectReason.HistoryUnavailable}: ${hb.hash.slice(0, 12)}`)
  }
  const named: UpdateCommit[] = [...r.updates, ...r.excluded.flatMap((x) => x.update === undefined ? [] : [x.update])]
  // fetched side by side: one after another, each fetch waited its own round trips on the aggregator, and on a loop
  // lagging a second (100 peers in one process) a result's five updates took its witnesses 11-23 s (bench scale)
  const limit = pLimit(PARALLEL_FETCHES)
  const fetched = await Promise.all(named.map(async (c) => await limit(async ():
  Promise<{ body: Uint8Array } | { err: Error }> => {
    try {
      return { body: await d.fetch(aggregator, hex(c.hash)) }
    } catch (err) { return { err: err as Error } }
  })))
  const updates: ClientUpdate[] = []
  for (const [i, c] of named.entries()) {
    const f = fetched[i]!
    if ('err' in f) {
      // we cannot judge, so we sign nothing: a fetch that timed out on a busy machine is no evidence, and two such
      // disagreeing attestations would contradict an honest aggregator (convicted for the rest of the job). One that
      // withholds updates from its witnesses gets no quorum and its attempt fails over, as a silent one's does
      const why = `${RejectReason.UpdateUnavailable}: ${c.author.slice(-6)} (${f.err.message})`
      return { ...verdict(false, why), abstain: true }
    }
    const body = f.body
    bytes += body.byteLength
    const a = decodeAdapter(body, d.layout, d.maxAdapterBytes)
    if (!a.ok) {
      return verdict(false,
        `${RejectReason.BadCommitment}: update of ${c.author.slice(-6)} does not decode (${a.reason})`)
    }
    updates.push({ peer: c.author, samples: c.samples, round: r.round, baseHash: hex(r.baseHash), adapter: a.adapter })
  }
  let mine
  try {
    mine = aggregateRound(d.aggregate, updates, { round: r.round, baseHash: hex(r.baseHash), global: base,
      ...(history !== undefined ? { history } : {}) })
  } catch (err) {
    return verdict(false, `${RejectReason.HashMismatch}: aggregation failed (${(err as Error).message})`)
  }
  const included = mine.decisions.filter((x) => x.included).map((x) => x.peer).sort().join()
  if (included !== [...r.included].sort().join()) {
    return verdict(false, `${RejectReason.BadCommitment}: included set differs from the rule's`)
  }
  if (mine.hash !== hex(r.newHash)) {
    return verdict(false, `${RejectReason.HashMismatch}: recomputed ${mine.hash.slice(0, 12)}`)
  }
  const after = mine.history?.hash ?? ''
  if (after !== hex(r.historyHash ?? new Uint8Array(0))) {
    return verdict(false, `${RejectReason.HistoryMismatch}: recomputed ${after === '' ? '(none)' : after.slice(0, 12)}`)
  }
  return { ...verdict(true), computed: { adapter: mine.bytes,
    ...(mine.history !== undefined ? { history: { hash: mine.history.hash, bytes: mine.history.bytes } } : {}) } }
}

export async function attestation (d: WitnessDeps, r: RoundResult, aggregator: string,
  v: Verdict): Promise<Attestation> {
  const a: Attestation = { jobId: d.jobId, round: r.round, attempt: r.attempt, aggregator, baseHash: r.baseHash,
    newHash: r.newHash, agree: v.agree, reason: v.reason.slice(0, 200), signature: new Uint8Array(0),
    witness: d.peerId, ...(r.historyHash !== undefined ? { historyHash: r.historyHash } : {}) }
  return { ...a, signature: await sign(d.key, attestationStatement(a)) }
}
