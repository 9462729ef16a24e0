// The witness role: when the seeded draw makes us a witness of a result, fetch the updates it names from its
// aggregator (who serves them until the round is final), check their signatures, recompute the filters and the
// aggregate from our own copy of the base, and publish a signed Attestation: agree only when the included set
// and the new adapter's hash are exactly what we computed.
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

export interface WitnessDeps {
  readonly jobId: string
  readonly peerId: string
  readonly key: PrivateKey
  readonly layout: AdapterLayout
  readonly maxAdapterBytes: number
  readonly aggregate: AggregateFn
  /** the bytes of `hash` from `from` (sha256-checked by the transfer) */
  readonly fetch: (from: string, hash: string) => Promise<Uint8Array>
}

export interface Verdict {
  readonly agree: boolean
  readonly reason: string
  /** update bytes fetched, and the seconds the whole check took: the price of witnessing (bench round) */
  readonly bytes: number
  readonly seconds: number
}

/** Recomputes result `r` of `aggregator` on `base` (our global adapter, the result's base). */
export async function judgeResult (d: WitnessDeps, r: RoundResult, aggregator: string,
  base: Adapter): Promise<Verdict> {
  const t0 = performance.now()
  let bytes = 0
  const verdict = (agree: boolean, reason = ''): Verdict => ({ agree, reason, bytes,
    seconds: (performance.now() - t0) / 1000 })
  const commits = await checkCommitments(r, verifySigned)
  if (!commits.ok) return verdict(false, commits.reason)
  const named: UpdateCommit[] = [...r.updates, ...r.excluded.flatMap((x) => x.update === undefined ? [] : [x.update])]
  const updates: ClientUpdate[] = []
  for (const c of named) {
    let body: Uint8Array
    try {
      body = await d.fetch(aggregator, hex(c.hash))
    } catch (err) {
      return verdict(false, `${RejectReason.UpdateUnavailable}: ${c.author.slice(-6)} (${(err as Error).message})`)
    }
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
    mine = aggregateRound(d.aggregate, updates, { round: r.round, baseHash: hex(r.baseHash), global: base })
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
  return verdict(true)
}

export async function attestation (d: WitnessDeps, r: RoundResult, aggregator: string,
  v: Verdict): Promise<Attestation> {
  const a: Attestation = { jobId: d.jobId, round: r.round, attempt: r.attempt, aggregator, baseHash: r.baseHash,
    newHash: r.newHash, agree: v.agree, reason: v.reason.slice(0, 200), signature: new Uint8Array(0),
    witness: d.peerId }
  return { ...a, signature: await sign(d.key, attestationStatement(a)) }
}
