// IEEE half (fp16) and bfloat16 bit patterns of a number, for constants of half-precision graphs (Node 20 has no
// Float16Array). Round to nearest even, as a Cast would.
const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** the bfloat16 bits of x: the upper half of its float32 bits, rounded to nearest even */
export function bfloat16Bits (x: number): number {
  f32[0] = x
  const b = u32[0]!
  if ((b & 0x7fffffff) > 0x7f800000) return 0x7fc0 // NaN
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff
}

/** the fp16 bits of x (overflow to Inf, subnormals kept) */
export function float16Bits (x: number): number {
  f32[0] = x
  const b = u32[0]!
  const sign = (b >>> 16) & 0x8000
  const exp = (b >>> 23) & 0xff
  const mant = b & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    const m = mant | 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    const rest = m & ((1 << shift) - 1)
    let h = m >>> shift
    if (rest > half || (rest === half && (h & 1) === 1)) h++
    return sign | h
  }
  let h = (e << 10) | (mant >>> 13)
  const rest = mant & 0x1fff
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++ // may carry into the exponent: still right
  return sign | h
}
