// LoRA dropout masks, made here from a seed and fed to the train graph as inputs (not drawn by ONNX Runtime's
// Dropout op inside the session): a step's masks are a function of (seed, step, micro-batch, site), so a
// resumed run replays them exactly and one session serves every seed (sessions are shared, not rebuilt per
// round); and drawing them here is cheaper than ORT's Dropout, which was a fifth of a stories260K step.
// Each site (one LoRA module of one layer) gets its own stream, as each PEFT LoRA layer has its own dropout.
import { deriveSeed } from '../rng.ts'

export interface DropoutSite {
  /** the graph input that takes the mask: bool [rows, cols], true = keep */
  readonly name: string
  readonly cols: number
}

// two mask bytes go in one 16-bit store: which of its bytes comes first in memory
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1
const FIRST = LITTLE_ENDIAN ? 1 : 0x100
const SECOND = LITTLE_ENDIAN ? 0x100 : 1

/** keep-probability resolution: each element draws 16 random bits (p is used as round(p * 65536) / 65536) */
const LEVELS = 65536

/** Keep-masks (1 = keep, 0 = drop) for `rows` tokens at every site, drop probability `p`. */
export function dropoutMasks (seed: number, rows: number, sites: readonly DropoutSite[],
  p: number): Map<string, Uint8Array> {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`)
  const threshold = Math.round(p * LEVELS) // drop when the 16-bit draw is below it
  const out = new Map<string, Uint8Array>()
  for (const s of sites) {
    const n = rows * s.cols
    const m = new Uint8Array(n + (n & 1)) // even length: two mask bytes per 16-bit store
    const pairs = new Uint16Array(m.buffer)
    // mulberry32 inlined (trainer/rng.ts's generator, as raw 32-bit words): two 16-bit draws per word
    let a = deriveSeed(seed, s.name)
    for (let i = 0; i < pairs.length; i++) {
      a = (a + 0x6d2b79f5) | 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      t ^= t >>> 14
      pairs[i] = ((t & 0xffff) >= threshold ? FIRST : 0) | ((t >>> 16) >= threshold ? SECOND : 0)
    }
    out.set(s.name, m.subarray(0, n))
  }
  return out
}
