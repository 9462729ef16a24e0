// An independent SentencePiece-BPE encoder over llama2.c's binary vocabulary export (tok512.bin: int32
// max_token_length, then per token float32 score, int32 length, bytes; '▁' stored as ' ', byte pieces
// <0xNN> stored as the character). The algorithm is SentencePiece's (and llama2.c run.c's): start from
// code points (unknown ones fall back to their UTF-8 bytes, id = byte + 3), then repeatedly merge the
// adjacent pair whose concatenation is a piece with the highest score, leftmost first on ties.
import { readFileSync } from 'node:fs'

export interface SpVocab { readonly pieces: readonly string[], readonly scores: readonly number[],
  readonly byId: ReadonlyMap<string, number> }

export function readLlama2cVocab (file: string, vocabSize: number): SpVocab {
  const b = readFileSync(file)
  let off = 4
  const pieces: string[] = []
  const scores: number[] = []
  const byId = new Map<string, number>()
  for (let i = 0; i < vocabSize; i++) {
    const score = b.readFloatLE(off); const len = b.readInt32LE(off + 4)
    const piece = b.subarray(off + 8, off + 8 + len).toString('utf8')
    off += 8 + len
    pieces.push(piece); scores.push(score)
    if (i >= 259 && !byId.has(piece)) byId.set(piece, i) // 0-2 special, 3-258 bytes: never merge results
  }
  if (off !== b.length) throw new Error(`${file}: ${b.length - off} trailing bytes`)
  return { pieces, scores, byId }
}

/** `normalize`: SentencePiece's remove_extra_whitespaces (trim, collapse runs of spaces), as tok512 was trained. */
export function spEncode (v: SpVocab, text: string, normalize = true): number[] {
  if (normalize) text = text.replace(/^ +| +$/g, '').replace(/ {2,}/g, ' ')
  if (text === '') return []
  const syms: Array<{ s: string | null, id: number }> = []
  for (const ch of ' ' + text) {
    const id = v.byId.get(ch)
    if (id !== undefined) syms.push({ s: ch, id })
    else for (const byte of Buffer.from(ch, 'utf8')) syms.push({ s: null, id: byte + 3 })
  }
  for (;;) {
    let best = -1; let bestScore = -Infinity; let bestId = -1
    for (let i = 0; i + 1 < syms.length; i++) {
      const a = syms[i]!.s; const c = syms[i + 1]!.s
      if (a === null || c === null) continue
      const id = v.byId.get(a + c)
      if (id !== undefined && v.scores[id]! > bestScore) { best = i; bestScore = v.scores[id]!; bestId = id }
    }
    if (best < 0) break
    syms.splice(best, 2, { s: syms[best]!.s! + syms[best + 1]!.s!, id: bestId })
  }
  return syms.map((x) => x.id)
}
