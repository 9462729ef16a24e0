// A gossip message as its author signed it (gossipsub's StrictSign envelope: RPC.Message with from, data,
// seqno, topic and a signature over "libp2p-pubsub:" + those four fields), kept so it can be handed on outside
// gossip and checked by anyone from the author's peer id alone. The members exchange (members-exchange.ts)
// hands on Hellos this way: no member can forge another's Hello, only replay one it heard.
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { SignedMessage } from '@libp2p/gossipsub'
import { RPC } from '@libp2p/gossipsub/message'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { concat } from 'uint8arrays/concat'
import { fromString } from 'uint8arrays/from-string'
import { RejectReason } from '../protocol/reject-reason.ts'
import { MAX_SIGNED_HELLO_BYTES } from '../protocol/limits.ts'

/** what gossipsub prefixes to the fields it signs (its buildRawMessage.ts SignPrefix) */
const SIGN_PREFIX = fromString('libp2p-pubsub:')

function seqnoBytes (n: bigint): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, n), false)
  return out
}

function signedBytes (from: Uint8Array, data: Uint8Array, seqno: Uint8Array, topic: string): Uint8Array {
  return concat([SIGN_PREFIX, RPC.Message.encode({ from, data, seqno, topic })])
}

/**
 * The envelope of a message gossipsub delivered (it checked the signature): re-encoded field for field. Only for
 * authors whose peer id carries their key (Ed25519): the others' envelopes would need the key too, and no round
 * message of theirs is checkable anyway (signatures.ts).
 */
export function envelopeOf (msg: SignedMessage): Uint8Array<ArrayBuffer> | undefined {
  if (msg.from.publicKey === undefined) return undefined
  return Uint8Array.from(RPC.Message.encode({ from: msg.from.toMultihash().bytes, data: msg.data,
    seqno: seqnoBytes(msg.sequenceNumber), topic: msg.topic, signature: msg.signature }))
}

/**
 * Sequence numbers of envelopes we seal ourselves have the top bit set. Gossipsub's (wall-clock ms x 10^6 at its
 * start, counted up per message) never do, so each kind rises on its own and a receiver compares within a kind:
 * a sealed Hello must not make the author's later gossiped ones look old.
 */
export const SEALED_SEQNO = 1n << 63n
let lastSealed = 0n

/** Our own message in the envelope gossipsub would have built for it (our own Hello is never delivered to us). */
export async function sealEnvelope (key: PrivateKey, from: Uint8Array, topic: string,
  data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  lastSealed = BigInt(Date.now()) * 1000n > lastSealed ? BigInt(Date.now()) * 1000n : lastSealed + 1n
  const seqno = SEALED_SEQNO | lastSealed
  const s = seqnoBytes(seqno)
  const signature = await key.sign(signedBytes(from, data, s, topic))
  return Uint8Array.from(RPC.Message.encode({ from, data, seqno: s, topic, signature }))
}

export type OpenedEnvelope =
  | { readonly ok: true, readonly from: string, readonly data: Uint8Array, readonly seqno: bigint }
  | { readonly ok: false, readonly reason: RejectReason, readonly detail: string }

/** An envelope's fields, read but not yet checked against its signature (checkEnvelope). */
export interface ReadEnvelope {
  readonly ok: true
  readonly from: string
  readonly data: Uint8Array
  readonly seqno: bigint
  readonly author: PeerId
  readonly signed: Uint8Array
  readonly signature: Uint8Array
}

/**
 * An envelope handed on by someone else, read: on `topic`, every field there, an author whose peer id carries its
 * key. Cheap (no signature check): an asker skips the Hellos it holds before paying for checkEnvelope. Never throws.
 */
export function readEnvelope (bytes: Uint8Array, topic: string): ReadEnvelope | Extract<OpenedEnvelope, { ok: false }> {
  const no = (reason: RejectReason, detail: string): Extract<OpenedEnvelope, { ok: false }> =>
    ({ ok: false, reason, detail })
  if (bytes.byteLength > MAX_SIGNED_HELLO_BYTES) {
    return no(RejectReason.Oversized, `${bytes.byteLength} > ${MAX_SIGNED_HELLO_BYTES} bytes`)
  }
  let m: RPC.Message
  try { m = RPC.Message.decode(bytes) } catch { return no(RejectReason.Malformed, 'not a gossip envelope') }
  if (m.topic !== topic) return no(RejectReason.WrongJob, 'another topic')
  const { from, data, seqno, signature } = m
  if (from === undefined || data === undefined || seqno?.byteLength !== 8 || signature === undefined) {
    return no(RejectReason.Malformed, 'from, data, seqno or signature missing')
  }
  let author
  try { author = peerIdFromMultihash(Digest.decode(from)) } catch { return no(RejectReason.Malformed, 'from') }
  if (author.publicKey === undefined) return no(RejectReason.BadSignature, 'no key in the author\'s peer id')
  return { ok: true, from: author.toString(), data, author, signed: signedBytes(from, data, seqno, topic), signature,
    seqno: new DataView(seqno.buffer, seqno.byteOffset, 8).getBigUint64(0, false) }
}

/** Whether a read envelope's author signed it. */
export async function checkEnvelope (e: ReadEnvelope): Promise<OpenedEnvelope> {
  // a malformed signature makes some key types throw: that is a bad signature too
  const valid = await (async () => await e.author.publicKey!.verify(e.signed, e.signature))().catch(() => false)
  if (!valid) return { ok: false, reason: RejectReason.BadSignature, detail: `not signed by ${e.from.slice(-6)}` }
  return { ok: true, from: e.from, data: e.data, seqno: e.seqno }
}

/**
 * Checks an envelope handed on by someone else: on `topic`, signed by the key its `from` peer id carries. Never
 * throws: a bad one says why.
 */
export async function openEnvelope (bytes: Uint8Array, topic: string): Promise<OpenedEnvelope> {
  const e = readEnvelope(bytes, topic)
  return e.ok ? await checkEnvelope(e) : e
}
