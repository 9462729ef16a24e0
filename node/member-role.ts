// The member role, every round: follow the round's announce (taking its base first when we are behind),
// train from the global adapter when selected and push the update to the aggregator, then take the
// aggregator's RoundResult.
import { createHash } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { RoundAnnounce, RoundResult, UpdateHeader } from '../protocol/messages.ts'
import { ROUND_WINDOW } from '../protocol/limits.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { updateStatement } from '../protocol/signed-update.ts'
import { sign } from './signatures.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { decodeAdapter, encodeAdapter, sha256Hex } from './adapter-codec.ts'
import { pushUpdate, withRetries } from './transfer.ts'
import { nextTokensPerSecond } from './throughput.ts'
import { RoundStage } from './round-stage.ts'
import { roundInfoOf } from './round-info.ts'
import { hex, unhex } from './hex.ts'
import type { PeerCore } from './peer-core.ts'
import type { CatchUp } from './catch-up.ts'
import type { AggregatorRole } from './aggregator-role.ts'

/** The per-peer, per-round training seed: reproducible, different for every peer and round. */
export function trainSeed (jobSeed: number, round: number, peer: string): number {
  return createHash('sha256').update(`${jobSeed}/${round}/${peer}`).digest().readUInt32BE(0) >>> 1
}

interface Trained { readonly round: number, readonly baseHash: string, readonly adapter: Adapter, readonly bytes: Uint8Array, readonly hash: string, readonly samples: number, readonly trainLoss: number }

export class MemberRole {
  /** measured from our trainer's results, advertised in Hello */
  tokensPerSecond = 0
  /** examples in our last round (or opts.samples until we trained), advertised in Hello */
  samples: number
  private trained?: Trained
  /**
   * An announce for a round too far ahead of us (we are still fetching earlier results): gossip delivers it
   * once, so it is kept and checked again each time we adopt a result. Without it a member a result or two
   * behind missed the round it was selected for and the aggregator waited out its whole deadline
   * (bench/round: a 10 s round among 0.5 s ones). A few at most, from live members, not far ahead: a
   * forged one costs a re-check, nothing more.
   */
  private deferred: Array<{ readonly a: RoundAnnounce, readonly sender: string }> = []

  constructor (private readonly core: PeerCore, private readonly catchUp: CatchUp, private readonly aggregator: AggregatorRole) {
    this.samples = core.opts.samples ?? 0
  }

  async onAnnounce (a: RoundAnnounce, sender: string): Promise<void> {
    const core = this.core
    const now = Date.now()
    const baseHash = hex(a.baseHash)
    const counted = new Set(core.countedMembers(a.round, now))
    const cur = core.cur.round === a.round ? core.cur : undefined
    const progress = { since: cur?.since ?? now, accepted: cur?.accepted ?? -1, acceptedDeadlineMs: cur?.announce?.deadlineMs }
    const timing = { silenceMs: core.opts.job.roundDeadlineSeconds * 1000, graceMs: core.timing.graceMs, settleMs: a.round === core.firstRound ? core.timing.settleMs : 0 }
    const check = core.trust.checkAnnounce(a, sender, core.completed, progress.accepted, progress, timing, counted, now)
    if (!check.ok) {
      if (check.reason === RejectReason.RoundOutOfWindow && a.round <= core.completed + ROUND_WINDOW && counted.has(sender)) {
        this.deferred.push({ a, sender })
        if (this.deferred.length > 4) this.deferred.shift()
      }
      core.events.emit('rejected', { from: sender, reason: check.reason, where: 'announce', round: a.round })
      return
    }
    // we stand elsewhere (behind, or forked): catching up is by confirmed results, never by an announce's word
    if (baseHash !== core.globalHash) { core.events.emit('rejected', { from: sender, reason: RejectReason.WrongBase, where: 'announce', round: a.round }); return }
    core.acceptAnnounce(a, sender, now)
    if (core.collector !== undefined && core.collector.attempt < a.attempt) core.dropCollector() // superseded
    if (a.selected.includes(core.peerId)) await this.trainAndSubmit(a.round, a.attempt, sender)
    else core.setStage(RoundStage.AwaitResult)
  }

  /** Announces kept for rounds past `round` are checked afresh (window, election, deadline) now that we stand on it. */
  replayDeferred (round: number): void {
    const replay = this.deferred.filter((d) => d.a.round > round).sort((x, y) => x.a.round - y.a.round)
    this.deferred = []
    if (replay.length > 0) {
      void (async () => { for (const d of replay) await this.onAnnounce(d.a, d.sender).catch((e: Error) => this.core.log(`announce: ${e.message}`)) })()
    }
  }

  async trainAndSubmit (round: number, attempt: number, aggregator: string): Promise<void> {
    const core = this.core
    const baseHash = core.globalHash
    let t = this.trained
    if (t === undefined || t.round !== round || t.baseHash !== baseHash) {
      core.setStage(RoundStage.Training)
      const res = await core.opts.trainer.train({ round, base: core.globalAdapter, seed: trainSeed(core.opts.job.recipe.seed, round, core.peerId), signal: core.abort.signal })
      const bytes = encodeAdapter(res.adapter)
      t = { round, baseHash, adapter: res.adapter, bytes, hash: sha256Hex(bytes), samples: res.samples, trainLoss: res.trainLoss }
      this.tokensPerSecond = nextTokensPerSecond(this.tokensPerSecond, res)
      this.samples = res.samples
      this.trained = t // a failover attempt of the same round reuses it instead of training again
      core.log(`round ${round}: trained on ${t.samples} examples in ${res.seconds.toFixed(1)} s, loss ${t.trainLoss.toFixed(4)}, ${Math.round(res.tokens / Math.max(res.seconds, 1e-9))} tok/s`)
      core.events.emit('trained', { round, attempt, samples: t.samples, trainLoss: t.trainLoss })
    }
    if (core.stopped || core.cur.round !== round || core.cur.accepted !== attempt) return // superseded meanwhile
    if (aggregator === core.peerId) {
      await this.aggregator.addOwnUpdate(round, attempt, { baseHash, bytes: t.bytes, samples: t.samples, trainLoss: t.trainLoss })
      return
    }
    core.setStage(RoundStage.Pushing)
    const signature = await sign(core.key, updateStatement(core.opts.jobId, round, attempt, baseHash, t.hash, t.samples))
    const header: UpdateHeader = { jobId: core.opts.jobId, round, attempt, baseHash: unhex(baseHash), samples: t.samples, trainLoss: t.trainLoss, size: BigInt(t.bytes.byteLength), adapterHash: unhex(t.hash), signature }
    try {
      // each attempt gets a limit sized to the update (5 s at least, 250 kB/s), not the whole transfer timeout:
      // a push stuck on a connection that is going away (seen under load in bench/round) is retried while the
      // aggregator still collects, instead of after its deadline
      const attemptMs = Math.min(core.timing.transferTimeoutMs, Math.max(5000, t.bytes.byteLength / 250))
      const ack = await withRetries(3, async () => await pushUpdate(core.libp2p, peerIdFromString(aggregator), header, t.bytes, attemptMs))
      if (!ack.accepted) core.log(`round ${round}: aggregator refused our update (${ack.reason})`)
    } catch (err) {
      if (!core.stopped) core.log(`round ${round}: could not push our update (${(err as Error).message})`)
    }
    if (core.cur.round === round && core.cur.accepted === attempt) core.setStage(RoundStage.AwaitResult)
  }

  /** A result from the network: the trust checks, then its witnesses' quorum ('confirmed' -> adoptConfirmed). */
  async onResult (r: RoundResult, sender: string): Promise<void> {
    const core = this.core
    const f = core.cur.round === r.round ? core.cur.followed : undefined
    // only the attempt we follow: a superseded attempt's late result is never taken (no fork between attempts)
    const followed = new Map(f === undefined ? [] : [[f.attempt, f]])
    await core.trust.onResult(r, sender, followed)
  }

  /** A result its witnesses confirmed: fetch its adapter (verified by hash) and adopt it. */
  async adoptConfirmed (r: RoundResult, aggregator: string): Promise<void> {
    const core = this.core
    if (r.round !== core.completed + 1 || hex(r.baseHash) !== core.globalHash || core.stopped) return
    const hash = hex(r.newHash)
    const own = core.trust.served(hash)
    const g = own !== undefined ? { bytes: own, adapter: undefined } : await this.catchUp.fetchGlobal(hash, [aggregator])
    if (g === undefined) { core.events.emit('rejected', { from: aggregator, reason: RejectReason.AdapterUnavailable, where: 'result', round: r.round }); return }
    if (r.round !== core.completed + 1 || core.stopped) return // adopted meanwhile
    let adapter = g.adapter
    if (adapter === undefined) {
      const d = decodeAdapter(g.bytes, core.layout, core.maxAdapterBytes)
      if (!d.ok) return
      adapter = d.adapter
    }
    core.trust.advance(r, aggregator)
    void core.store.saveBeacon(r.round, core.trust.beacon).catch((e: Error) => core.log(`state: could not save the beacon (${e.message})`))
    core.adopt(r.round, hash, g.bytes, adapter, roundInfoOf(r, aggregator), hex(r.baseHash))
  }

  /** Evidence against the aggregator of the attempt we follow: it is over; the clock moves to the next attempt. */
  failOver (round: number, attempt: number): void {
    const core = this.core
    const a = core.cur.announce
    if (core.cur.round !== round || a === undefined || a.attempt !== attempt) return
    core.cur.announce = { ...a, deadlineMs: Date.now() - core.timing.graceMs - 1 }
    if (core.collector?.round === round && core.collector.attempt === attempt) core.dropCollector()
    core.setStage(RoundStage.AwaitAnnounce)
  }
}
