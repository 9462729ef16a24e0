// Schema checks of everything that arrives: decode never throws out of here, it returns a result with a
// reason, a RejectReason label optionally followed by ": detail" (reject-reason.ts).
import { MAX_REACHABILITY } from './election.ts'
import {
  Attestation, Complaint, Hello, RoundAnnounce, RoundMessage, RoundResult, UpdateHeader, AdapterRequest
} from './messages.ts'
import {
  HASH_BYTES, MAX_ADDR_BYTES, MAX_ATTEMPTS, MAX_GOSSIP_BYTES, MAX_HEADER_BYTES, MAX_HELLO_ADDRS, MAX_HELLO_INTERVAL_MS,
  MAX_MEMBERS, MAX_PEER_ID_CHARS, MAX_REASON_CHARS
} from './limits.ts'
import { RejectReason as Reject, withDetail } from './reject-reason.ts'
import { multiaddr } from '@multiformats/multiaddr'

/** what is wrong with a Hello's listen addresses, if anything: too many, too long, or not multiaddrs */
function badAddrs (addrs: readonly Uint8Array[]): string | undefined {
  if (addrs.length > MAX_HELLO_ADDRS) return `${addrs.length} > ${MAX_HELLO_ADDRS}`
  for (const a of addrs) {
    if (a.byteLength > MAX_ADDR_BYTES) return `one of ${a.byteLength} > ${MAX_ADDR_BYTES} bytes`
    try { multiaddr(a) } catch { return 'not a multiaddr' }
  }
  return undefined
}

export type Validation<T> =
  | { readonly valid: true, readonly message: T }
  | { readonly valid: false, readonly reason: string }

export type DecodedRoundMessage =
  | { readonly kind: 'hello', readonly hello: Hello }
  | { readonly kind: 'announce', readonly announce: RoundAnnounce }
  | { readonly kind: 'result', readonly result: RoundResult }
  | { readonly kind: 'attestation', readonly attestation: Attestation }
  | { readonly kind: 'complaint', readonly complaint: Complaint }

const bad = (reason: Reject, detail?: string): { valid: false, reason: string } =>
  ({ valid: false, reason: withDetail(reason, detail) })

const PEER_ID = new RegExp(`^[1-9A-HJ-NP-Za-km-z]{1,${MAX_PEER_ID_CHARS}}$`) // base58btc

export function isPeerIdString (s: string): boolean {
  return PEER_ID.test(s)
}

function peerList (xs: readonly string[], field: string): string | undefined {
  if (xs.length > MAX_MEMBERS) return `${field} has ${xs.length} > ${MAX_MEMBERS} entries`
  if (!xs.every(isPeerIdString)) return `${field} has an entry that is not a peer id`
  if (new Set(xs).size !== xs.length) return `${field} has duplicates`
  return undefined
}

function decodeSafe<T> (fn: () => T): T | undefined {
  try { return fn() } catch { return undefined }
}

/** Decodes and schema-checks one gossip message of job `jobId`. */
export function decodeRoundMessage (data: Uint8Array, jobId: string): Validation<DecodedRoundMessage> {
  if (data.byteLength > MAX_GOSSIP_BYTES) return bad(Reject.Oversized, `${data.byteLength} > ${MAX_GOSSIP_BYTES} bytes`)
  const limits = {
    limits: {
      announce: { members: MAX_MEMBERS, selected: MAX_MEMBERS } as never,
      result: { selected: MAX_MEMBERS, included: MAX_MEMBERS, excluded: MAX_MEMBERS, updates: MAX_MEMBERS } as never
    }
  }
  const m = decodeSafe(() => RoundMessage.decode(data, limits))
  if (m === undefined) return bad(Reject.Malformed, 'not a RoundMessage')
  const set = [m.hello, m.announce, m.result, m.attestation, m.complaint].filter((x) => x !== undefined).length
  if (set !== 1) return bad(Reject.Malformed, `${set} payloads set, expected 1`)
  if (m.hello !== undefined) {
    const h = m.hello
    if (h.jobId !== jobId) return bad(Reject.WrongJob)
    if (h.globalHash.byteLength !== HASH_BYTES || h.beacon.byteLength !== HASH_BYTES) {
      return bad(Reject.BadField, 'globalHash or beacon')
    }
    if (!Number.isFinite(h.tokensPerSecond) || h.tokensPerSecond < 0) return bad(Reject.BadField, 'tokensPerSecond')
    if (h.device.length > 32) return bad(Reject.BadField, 'device')
    if (h.intervalMs > MAX_HELLO_INTERVAL_MS) return bad(Reject.BadField, 'intervalMs')
    if (h.reachability > MAX_REACHABILITY) return bad(Reject.BadField, 'reachability')
    const addrs = badAddrs(h.addrs)
    if (addrs !== undefined) return bad(Reject.BadField, `addrs: ${addrs}`)
    return { valid: true, message: { kind: 'hello', hello: h } }
  }
  if (m.announce !== undefined) {
    const a = m.announce
    if (a.jobId !== jobId) return bad(Reject.WrongJob)
    if (a.round < 1) return bad(Reject.BadField, 'round')
    if (a.attempt >= MAX_ATTEMPTS) return bad(Reject.BadField, 'attempt')
    if (a.baseHash.byteLength !== HASH_BYTES) return bad(Reject.BadField, 'baseHash')
    const e = peerList(a.members, 'members') ?? peerList(a.selected, 'selected')
    if (e !== undefined) return bad(Reject.BadField, e)
    if (a.members.length === 0 || !a.selected.every((s) => a.members.includes(s))) {
      return bad(Reject.BadField, 'selected not a subset of members')
    }
    return { valid: true, message: { kind: 'announce', announce: a } }
  }
  if (m.attestation !== undefined) {
    const t = m.attestation
    if (t.jobId !== jobId) return bad(Reject.WrongJob)
    if (t.round < 1) return bad(Reject.BadField, 'round')
    if (t.attempt >= MAX_ATTEMPTS) return bad(Reject.BadField, 'attempt')
    if (t.baseHash.byteLength !== HASH_BYTES || t.newHash.byteLength !== HASH_BYTES) return bad(Reject.BadField, 'hash')
    if (!isPeerIdString(t.aggregator) || !isPeerIdString(t.witness)) {
      return bad(Reject.BadField, 'aggregator or witness')
    }
    if (t.reason.length > MAX_REASON_CHARS) return bad(Reject.BadField, 'reason too long')
    if (t.signature.byteLength === 0) return bad(Reject.BadField, 'unsigned attestation')
    if (!optionalHash(t.historyHash)) return bad(Reject.BadField, 'historyHash')
    return { valid: true, message: { kind: 'attestation', attestation: t } }
  }
  if (m.complaint !== undefined) {
    const c = m.complaint
    if (c.jobId !== jobId) return bad(Reject.WrongJob)
    if (!isPeerIdString(c.aggregator) || c.update === undefined || !isPeerIdString(c.update.author) ||
      c.update.hash.byteLength !== HASH_BYTES || c.result === undefined) return bad(Reject.BadField, 'complaint')
    const r = checkResultSchema(c.result, jobId)
    return r.valid ? { valid: true, message: { kind: 'complaint', complaint: c } } : r
  }
  const r = checkResultSchema(m.result!, jobId)
  return r.valid ? { valid: true, message: { kind: 'result', result: r.message } } : r
}

function checkResultSchema (r: RoundResult, jobId: string): Validation<RoundResult> {
  if (r.jobId !== jobId) return bad(Reject.WrongJob)
  if (r.round < 1) return bad(Reject.BadField, 'round')
  if (r.attempt >= MAX_ATTEMPTS) return bad(Reject.BadField, 'attempt')
  if (r.baseHash.byteLength !== HASH_BYTES || r.newHash.byteLength !== HASH_BYTES) return bad(Reject.BadField, 'hash')
  if (!optionalHash(r.historyBase) || !optionalHash(r.historyHash)) return bad(Reject.BadField, 'history hash')
  const e = peerList(r.selected, 'selected') ?? peerList(r.included, 'included') ??
    peerList(r.excluded.map((x) => x.peer), 'excluded')
  if (e !== undefined) return bad(Reject.BadField, e)
  if (r.included.length === 0) return bad(Reject.BadField, 'no included peer')
  if (r.updates.some((u) => !isPeerIdString(u.author) || u.hash.byteLength !== HASH_BYTES)) {
    return bad(Reject.BadField, 'updates')
  }
  if (r.excluded.some((x) => x.reason.length > MAX_REASON_CHARS)) return bad(Reject.BadField, 'reason too long')
  if (!Number.isFinite(r.trainLoss) || !Number.isFinite(r.seconds) || r.seconds < 0) {
    return bad(Reject.BadField, 'metrics')
  }
  return { valid: true, message: r }
}

/** Decodes and schema-checks an update header (the aggregator then checks it against its round: round-rules). */
export function decodeUpdateHeader (
  data: Uint8Array, jobId: string, maxAdapterBytes: number
): Validation<UpdateHeader> {
  if (data.byteLength > MAX_HEADER_BYTES) return bad(Reject.Oversized)
  const h = decodeSafe(() => UpdateHeader.decode(data))
  if (h === undefined) return bad(Reject.Malformed, 'not an UpdateHeader')
  if (h.jobId !== jobId) return bad(Reject.WrongJob)
  if (h.adapterHash.byteLength !== HASH_BYTES || h.baseHash.byteLength !== HASH_BYTES) {
    return bad(Reject.BadField, 'hash')
  }
  if (h.size <= 0n || h.size > BigInt(maxAdapterBytes)) {
    return bad(Reject.Oversized, `adapter of ${h.size} bytes, cap ${maxAdapterBytes}`)
  }
  if (h.samples < 1) return bad(Reject.BadField, 'samples')
  if (!Number.isFinite(h.trainLoss)) return bad(Reject.BadField, 'trainLoss')
  return { valid: true, message: h }
}

export function decodeAdapterRequest (data: Uint8Array, jobId: string): Validation<AdapterRequest> {
  if (data.byteLength > MAX_HEADER_BYTES) return bad(Reject.Oversized)
  const q = decodeSafe(() => AdapterRequest.decode(data))
  if (q === undefined) return bad(Reject.Malformed, 'not an AdapterRequest')
  if (q.jobId !== jobId) return bad(Reject.WrongJob)
  if (q.hash.byteLength !== HASH_BYTES) return bad(Reject.BadField, 'hash')
  return { valid: true, message: q }
}

/** an optional hash field: absent, or exactly a sha256 (an empty one would be a second way to say "none") */
function optionalHash (h: Uint8Array | undefined): boolean {
  return h === undefined || h.byteLength === HASH_BYTES
}
