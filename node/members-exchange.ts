// /fedit/members/1.0.0: a peer that does not know the job's members yet asks one member for the latest Hello
// it holds of each live member, each in the envelope its author signed (gossip-envelope.ts). A quiet member of a
// 50-peer job Hellos every ~50 s, so a newcomer used to count the job only after that long, refusing every
// announce meanwhile as listing members it did not know (docs/performance.md, "Why a 50-peer job's rounds run
// to their deadline"). Now it asks a peer of the job's topic as soon as it has one, and asks an announce's
// sender for the members it lists when it does not know them: one round trip.
// The rule "every listed member is one we count" stays as strict: a handed-on Hello is checked as a gossiped one
// is (author's signature, proof of work, age), so a server can only replay what members signed, and only a Hello
// newer (by its author's sequence number) than any of that member's we hold. What it can lie about is how long
// ago it heard each: a gone member's last Hello, claimed fresh, keeps it live at the asker for one TTL at most,
// once. A handed-on Hello never moves the attempt clock (member-view.ts handedOn).
// Framing as the other streams (transfer.ts): a framed MembersRequest, a framed MembersReply back, both capped.
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { SignedMessage } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { MembersReply, MembersRequest } from '../protocol/messages.ts'
import { MEMBERS_PROTOCOL } from '../protocol/topics.ts'
import { MAX_HEADER_BYTES, MAX_HELLO_INTERVAL_MS, MAX_MEMBERS, MAX_MEMBERS_FRAME_BYTES } from '../protocol/limits.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { decodeRoundMessage } from '../protocol/validation.ts'
import type { Hello } from '../protocol/messages.ts'
import { ChunkReader, frame } from './transfer.ts'
import { TransferError } from './errors.ts'
import { openForTransfer } from './transfer-path.ts'
import { checkEnvelope, envelopeOf, readEnvelope, SEALED_SEQNO } from './gossip-envelope.ts'
import { SerialAsks } from './serial-asks.ts'

/** a member asked again no sooner than this (an asker that gets nothing new must not loop on it) */
const ASK_AGAIN_MS = 10_000
/** answers a newcomer takes at most before it counts itself joined (each answer is ~100 Hellos to read) */
const JOIN_ASKS = 3
/** what each Hello adds to an answer beside its bytes, at most: its field's tag and length, and its age */
const ENTRY_OVERHEAD_BYTES = 16
/** one answer per asker this often at most: asking costs the server a frame of every live member's Hello */
const ANSWER_AGAIN_MS = 2_000
/**
 * answers a second at most, whoever asks: an answer is up to MAX_MEMBERS Hellos (~500 KB, 1 MB at most) for a
 * request of a few bytes, and identities are cheap, so the per-asker limit alone would let a few fresh ones draw our
 * uplink
 */
const ANSWERS_PER_SECOND = 4

/** a handed-on Hello's envelope, or a gossiped Hello as gossipsub delivered it */
type HeldHello = Uint8Array<ArrayBuffer> | SignedMessage

export interface MembersHost {
  readonly jobId: string
  readonly topic: string
  readonly timeoutMs: number
  readonly host: () => Libp2p
  readonly self: () => string
  /** the job's minPeers: a server that knows fewer members is asked again (joinedBy); default 1 */
  readonly minMembers?: number
  /** our own Hello now, sealed as gossipsub would (our own gossip never comes back to us to keep) */
  readonly ownHello: () => Promise<Uint8Array<ArrayBuffer>>
  /** is member `peer` live in our view now (only their Hellos are handed on) */
  readonly isLive: (peer: string, now: number) => boolean
  /**
   * a checked, handed-on Hello of `from`, heard at `seenAt` by the server's word; false when it is refused. `newer`:
   * it is newer, by its author's sequence, than the Hello of `from` our view took last
   */
  readonly handedOn: (from: string, hello: Hello, seenAt: number, newer: boolean) => boolean
  /** after a batch of handed-on Hellos: announces waiting for members are checked again */
  readonly membersChanged: () => void
  /** the first answer came: the members know nothing of us yet if our first Hello left before our mesh formed */
  readonly joined: () => void
  readonly reject: (from: string, reason: string) => void
  readonly log: (line: string) => void
}

/**
 * Whether a newcomer has joined after an answer of `served` Hellos (the server's own and those it held), now knowing
 * `known` members, after `answers` answers in all (pure). The server must have held as many members as we now know,
 * and a job's worth of them (`minMembers`, us included): a server that joined as late as we did held only itself,
 * which matched what we knew, and a newcomer of a 100-peer job stopped asking with 1 member known. It then stayed
 * blind to the job for 90 s (outside the gossip mesh), was elected, and its round failed over (bench
 * scale-threads). JOIN_ASKS answers end the asking whatever they held.
 */
export function joinedBy (served: number, known: number, minMembers: number, answers: number): boolean {
  return (served + 1 >= known && served + 1 >= minMembers) || answers >= JOIN_ASKS
}

export class MembersExchange {
  /**
   * member -> its latest Hello's envelope (or the gossiped message, encoded as one only when asked for: most are
   * never handed on) and when we heard it
   */
  private readonly latest = new Map<string, { readonly hello: HeldHello, readonly at: number }>()
  /**
   * member -> the highest sequence number of its Hellos we hold, gossiped and sealed apart (gossip-envelope.ts
   * SEALED_SEQNO): a handed-on one must be newer, a gossiped one no older
   */
  private readonly seqnos = new Map<string, { gossiped: bigint, sealed: bigint, lastSealed: boolean }>()
  private readonly asks = new SerialAsks(async (peer, why) => {
    await this.askNow(peer, why).catch((e: Error) => { this.h.log(`members from ${peer.slice(-6)}: ${e.message}`) })
  }, ASK_AGAIN_MS, MAX_MEMBERS)
  private readonly answered = new Map<string, number>()
  /** when we answered in the last second (ANSWERS_PER_SECOND) */
  private recent: number[] = []
  /** members asks answered */
  private answers = 0
  /** a server held as many members as we do and a job's worth, or JOIN_ASKS answered (joinedBy) */
  joined = false

  constructor (private readonly h: MembersHost) {}

  /**
   * A paying Hello came by gossip: kept to hand on. False when we hold a newer one of its author: gossip reorders
   * (a peer that joins late is sent the last seconds' messages on request, after the newer ones), and an old Hello
   * must not shorten the interval a member last announced, nor date it back.
   */
  heard (msg: SignedMessage, now: number): boolean {
    const from = msg.from.toString()
    if (msg.sequenceNumber < this.held(from, msg.sequenceNumber)) return false
    // only authors whose peer id carries their key can be handed on (gossip-envelope.ts envelopeOf)
    if (msg.from.publicKey !== undefined) this.keep(from, msg, now, msg.sequenceNumber)
    return true
  }

  /**
   * Until we joined (a server knew as many members as we do), asks one of `peers` (those on the job's topic, gossipsub
   * says: a quiet job's members may not Hello for a minute, so their subscriptions are the first sign of them);
   * each tick.
   */
  join (peers: readonly string[]): void {
    if (this.joined || this.asks.busy || peers.length === 0) return
    this.ask(peers[Math.floor(Math.random() * peers.length)]!, 'joining')
  }

  /**
   * Asks `peer` for the members it knows: not twice within ASK_AGAIN_MS, one at a time, the latest asked for
   * meanwhile after it (serial-asks.ts); never throws.
   */
  ask (peer: string, why: string): void {
    if (peer !== this.h.self()) this.asks.ask(peer, why)
  }

  private async askNow (peer: string, why: string): Promise<void> {
    const h = this.h
    let reply: MembersReply
    try {
      reply = await fetchMembers(h.host(), peerIdFromString(peer), { jobId: h.jobId, timeoutMs: h.timeoutMs })
    } catch (err) {
      h.reject(peer, (err as { reason?: string }).reason ?? RejectReason.StreamError)
      return
    }
    let fresh = 0
    let refused = 0
    for (const [i, bytes] of reply.hellos.entries()) {
      const r = readEnvelope(bytes, h.topic)
      // a bad envelope is the server's doing: a member's own gossip is checked by gossipsub before we keep it
      if (!r.ok) { refused++; h.reject(peer, `${r.reason}: ${r.detail}`); continue }
      // one we hold, or older, is skipped before its signature is checked: most of an answer, most of its cost
      if (r.from === h.self() || r.seqno <= this.held(r.from, r.seqno)) continue
      const e = await checkEnvelope(r)
      if (!e.ok) { refused++; h.reject(peer, `${e.reason}: ${e.detail}`); continue }
      const d = decodeRoundMessage(e.data, h.jobId)
      if (!d.valid || d.message.kind !== 'hello') {
        refused++
        h.reject(peer, d.valid ? `${RejectReason.Malformed}: not a Hello` : d.reason)
        continue
      }
      // a claim: never in the future, and no older than any Hello may stay live (the view drops it then anyway)
      const at = Date.now() - Math.min(reply.agesMs[i] ?? 0, 3 * MAX_HELLO_INTERVAL_MS)
      // the two kinds' sequences are apart: newer than the last one taken only within the same kind
      const last = this.seqnos.get(e.from)
      const newer = last !== undefined && last.lastSealed === ((e.seqno & SEALED_SEQNO) !== 0n)
      if (!h.handedOn(e.from, d.message.hello, at, newer)) continue
      this.keep(e.from, Uint8Array.from(bytes), at, e.seqno)
      fresh++
    }
    // joined once a server held as many members as we now do (one judged live by it and not by us aside), and a
    // job's worth (joinedBy): one that came as late as we did (founders start together) knows little, so a newcomer
    // asks another, JOIN_ASKS times at most; Hellos and the senders of announces listing members we do not know fill
    // in the rest
    this.answers++
    if (!this.joined && joinedBy(reply.hellos.length, this.latest.size, h.minMembers ?? 1, this.answers)) {
      this.joined = true
      h.joined()
    }
    h.log(`members: ${reply.hellos.length} Hellos from ${peer.slice(-6)} (${why}); ${fresh} newer than ours` +
      (refused > 0 ? `, ${refused} refused` : ''))
    if (fresh > 0) h.membersChanged()
  }

  /** What we answer `asker` now: the latest Hello of each live member and our own, or a reason. */
  async answer (asker: string, jobId: string): Promise<MembersReply> {
    const now = Date.now()
    if (jobId !== this.h.jobId) return { hellos: [], agesMs: [], reason: RejectReason.WrongJob }
    if (now - (this.answered.get(asker) ?? -Infinity) < ANSWER_AGAIN_MS) {
      return { hellos: [], agesMs: [], reason: 'asked too soon' }
    }
    this.recent = this.recent.filter((t) => now - t < 1000)
    if (this.recent.length >= ANSWERS_PER_SECOND) return { hellos: [], agesMs: [], reason: 'busy' }
    this.recent.push(now)
    this.answered.set(asker, now)
    if (this.answered.size > MAX_MEMBERS) this.answered.delete(this.answered.keys().next().value!)
    this.prune(now)
    const hellos = [await this.h.ownHello()]
    const agesMs = [0]
    // the asker reads at most MAX_MEMBERS_FRAME_BYTES: Hellos carry addresses, so 1,024 of them may not fit
    let size = hellos[0]!.byteLength + ENTRY_OVERHEAD_BYTES
    for (const [peer, { hello, at }] of this.latest) {
      if (peer === asker || hellos.length >= MAX_MEMBERS) continue
      const bytes = hello instanceof Uint8Array ? hello : envelopeOf(hello)
      if (bytes === undefined) continue
      if (size + bytes.byteLength + ENTRY_OVERHEAD_BYTES > MAX_MEMBERS_FRAME_BYTES) break
      size += bytes.byteLength + ENTRY_OVERHEAD_BYTES
      hellos.push(bytes)
      agesMs.push(now - at)
    }
    return { hellos, agesMs, reason: '' }
  }

  private keep (from: string, hello: HeldHello, at: number, seqno: bigint): void {
    this.latest.delete(from) // re-inserted last: the map stays oldest first, so pruning drops the oldest
    this.latest.set(from, { hello, at })
    const s = this.seqnos.get(from) ?? { gossiped: -1n, sealed: -1n, lastSealed: false }
    this.seqnos.set(from, (seqno & SEALED_SEQNO) !== 0n
      ? { ...s, sealed: seqno > s.sealed ? seqno : s.sealed, lastSealed: true }
      : { ...s, gossiped: seqno > s.gossiped ? seqno : s.gossiped, lastSealed: false })
    if (this.latest.size > MAX_MEMBERS) this.prune(at)
  }

  /** the highest sequence number of `from`'s we hold of the kind of `seqno` (-1: none) */
  private held (from: string, seqno: bigint): bigint {
    const s = this.seqnos.get(from)
    return s === undefined ? -1n : (seqno & SEALED_SEQNO) !== 0n ? s.sealed : s.gossiped
  }

  /** only live members' Hellos are kept, at most MAX_MEMBERS of them */
  private prune (now: number): void {
    for (const peer of this.latest.keys()) if (!this.h.isLive(peer, now)) this.latest.delete(peer)
    while (this.latest.size > MAX_MEMBERS) this.latest.delete(this.latest.keys().next().value!)
    // sequence numbers outlive the Hellos (a gone member's last one must not come back), a few job sizes at most
    while (this.seqnos.size > 4 * MAX_MEMBERS) this.seqnos.delete(this.seqnos.keys().next().value!)
  }
}

export async function serveMembers (host: Libp2p, exchange: MembersExchange, timeoutMs: number): Promise<void> {
  await host.handle(MEMBERS_PROTOCOL, async (stream, connection) => {
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const q = decodeSafe(await new ChunkReader(stream).readFrame(signal, MAX_HEADER_BYTES))
      const reply = q === undefined ? { hellos: [], agesMs: [], reason: RejectReason.Malformed }
        : await exchange.answer(connection.remotePeer.toString(), q.jobId)
      stream.send(frame(MembersReply.encode(reply)))
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 4, runOnLimitedConnection: true })
}

/** The Hellos `from` hands on (unchecked: the asker opens each envelope); throws TransferError. */
export async function fetchMembers (host: Libp2p, from: PeerId,
  opts: { readonly jobId: string, readonly timeoutMs: number }): Promise<MembersReply> {
  const signal = AbortSignal.timeout(opts.timeoutMs)
  const { stream } = await openForTransfer(host, from, MEMBERS_PROTOCOL, 0, signal)
  try {
    stream.send(frame(MembersRequest.encode({ jobId: opts.jobId })))
    const body = await new ChunkReader(stream).readFrame(signal, MAX_MEMBERS_FRAME_BYTES)
    let r: MembersReply
    try {
      r = MembersReply.decode(body, { limits: { hellos: MAX_MEMBERS + 1, agesMs: MAX_MEMBERS + 1 } })
    } catch { throw new TransferError(RejectReason.Malformed, 'not a members reply') }
    if (r.reason !== '') throw new TransferError(RejectReason.NotFound, r.reason.slice(0, 100))
    await stream.close({ signal }).catch(() => {})
    return r
  } catch (err) {
    stream.abort(err as Error)
    throw err instanceof TransferError ? err : new TransferError(RejectReason.StreamError, (err as Error).message)
  }
}

function decodeSafe (b: Uint8Array): MembersRequest | undefined {
  try { return MembersRequest.decode(b) } catch { return undefined }
}
