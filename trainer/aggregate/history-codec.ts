// The job's history as bytes (what a RoundResult's historyHash names and peers fetch by hash): the same history
// gives the same bytes on every machine, and bytes from the network are checked field by field before use.
//   u32 count, then per peer in id order: u16 id length, id (UTF-8), u32 rounds, u32 last round,
//   SKETCH_DIM float64 (all little-endian). Nothing else; the length must match exactly.
import { MAX_HISTORY_PEERS, SKETCH_DIM } from './history.ts'
import type { JobHistory, PeerHistory } from './history.ts'

const MAX_ID_BYTES = 128
const PEER_FIXED = 2 + 4 + 4 + 8 * SKETCH_DIM
/** the largest valid blob: what a fetch of a history may read */
export const MAX_HISTORY_BYTES = 4 + MAX_HISTORY_PEERS * (PEER_FIXED + MAX_ID_BYTES)

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export function encodeHistory (h: JobHistory): Uint8Array {
  const peers = [...h.keys()].sort()
  const ids = peers.map((p) => enc.encode(p))
  const out = new Uint8Array(4 + ids.reduce((s, id) => s + PEER_FIXED + id.byteLength, 0))
  const v = new DataView(out.buffer)
  v.setUint32(0, peers.length, true)
  let o = 4
  peers.forEach((p, i) => {
    const e = h.get(p)!
    v.setUint16(o, ids[i].byteLength, true); o += 2
    out.set(ids[i], o); o += ids[i].byteLength
    v.setUint32(o, e.rounds, true); o += 4
    v.setUint32(o, e.last, true); o += 4
    for (let k = 0; k < SKETCH_DIM; k++, o += 8) v.setFloat64(o, e.sketch[k], true)
  })
  return out
}

export type DecodedHistory = { readonly ok: true, readonly history: JobHistory } |
  { readonly ok: false, readonly reason: string }

export function decodeHistory (b: Uint8Array): DecodedHistory {
  const bad = (reason: string): DecodedHistory => ({ ok: false, reason: `history blob: ${reason}` })
  if (b.byteLength < 4 || b.byteLength > MAX_HISTORY_BYTES) return bad(`${b.byteLength} bytes`)
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const n = v.getUint32(0, true)
  if (n > MAX_HISTORY_PEERS) return bad(`${n} peers > ${MAX_HISTORY_PEERS}`)
  const out = new Map<string, PeerHistory>()
  let o = 4
  let prev: string | undefined
  for (let i = 0; i < n; i++) {
    if (o + 2 > b.byteLength) return bad(`truncated at peer ${i}`)
    const len = v.getUint16(o, true); o += 2
    if (len === 0 || len > MAX_ID_BYTES || o + len + PEER_FIXED - 2 > b.byteLength) return bad(`peer ${i}'s size`)
    let id: string
    try { id = dec.decode(b.subarray(o, o + len)) } catch { return bad(`peer ${i}'s id is not UTF-8`) }
    o += len
    if (prev !== undefined && !(prev < id)) return bad(`peer ${i} out of order`)
    prev = id
    const rounds = v.getUint32(o, true); o += 4
    const last = v.getUint32(o, true); o += 4
    if (rounds === 0 || last === 0) return bad(`peer ${i} has no rounds`)
    const sketch = new Float64Array(SKETCH_DIM)
    for (let k = 0; k < SKETCH_DIM; k++, o += 8) {
      const x = v.getFloat64(o, true)
      if (!Number.isFinite(x)) return bad(`peer ${i} has a non-finite value`)
      sketch[k] = x
    }
    out.set(id, { rounds, last, sketch })
  }
  if (o !== b.byteLength) return bad(`${b.byteLength - o} bytes after the last peer`)
  return { ok: true, history: out }
}
