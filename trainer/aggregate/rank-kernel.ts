// Per-coordinate ranks of n values without data-dependent branches, the core of the coordinate-wise median and
// trimmed mean. Insertion sort or a sorting network on doubles mispredicts on nearly every coordinate (measured:
// ~140 ns per coordinate of 10 values); here each value becomes an order-preserving 31-bit integer key (its
// float32 bits, negatives flipped, shifted right once so a difference of two keys never overflows), each pair is
// compared with integer arithmetic only, and a statistic is the dot product of the exact float64 values with a
// per-rank weight table. Values equal within ~2 float32 ulps may swap ranks, which moves a statistic by at most
// that much. For small n the comparisons are unrolled into straight-line code generated once per n (from the
// integer n only) — ~60 ns per coordinate of 10 values; larger n use the equivalent loop.

/** (blk, key, len, w1, res1, w2, res2): for each of `len` coordinates (n consecutive values in blk/key),
 * res1[k] = sum_i blk_i * w1[rank_i], res2[k] = sum_i blk_i * w2[rank_i]. */
export type RankKernel = (blk: Float64Array, key: Int32Array, len: number,
  w1: Float64Array, res1: Float64Array, w2: Float64Array, res2: Float64Array) => void

const UNROLL_MAX = 40
const cache = new Map<number, RankKernel>()

export function rankKernel (n: number): RankKernel {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`rankKernel: bad n ${n}`)
  let k = cache.get(n)
  if (k === undefined) {
    k = n <= UNROLL_MAX ? unrolled(n) : looped(n)
    cache.set(n, k)
  }
  return k
}

/** The order-preserving 31-bit integer key of each float32 value (same length). */
export function sortKeys (f32bits: Int32Array, key: Int32Array, count: number): void {
  for (let q = 0; q < count; q++) { const b = f32bits[q]; key[q] = (b ^ ((b >> 31) & 0x7fffffff)) >> 1 }
}

function unrolled (n: number): RankKernel {
  const L: string[] = []
  for (let i = 0; i < n; i++) L.push(`const y${i} = key[o + ${i}]; let r${i} = 0;`)
  // pair (j < i): c = 1 when y_j <= y_i (i outranks j), so ranks are a permutation of 0..n-1
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) L.push(`c = ((y${j} - y${i} - 1) >> 31) & 1; r${i} += c; r${j} += 1 - c;`)
  }
  for (let i = 0; i < n; i++) L.push(`const x${i} = blk[o + ${i}];`)
  L.push(`res1[k] = ${Array.from({ length: n }, (_, i) => `x${i} * w1[r${i}]`).join(' + ')};`)
  L.push(`res2[k] = ${Array.from({ length: n }, (_, i) => `x${i} * w2[r${i}]`).join(' + ')};`)
  const body = `for (let k = 0; k < len; k++) { const o = k * ${n}; let c = 0;\n${L.join('\n')}\n}`
  // generated from the integer n alone: no outside text reaches the code
  return new Function('blk', 'key', 'len', 'w1', 'res1', 'w2', 'res2', body) as RankKernel
}

function looped (n: number): RankKernel {
  const rank = new Int32Array(n)
  return (blk, key, len, w1, res1, w2, res2) => {
    for (let k = 0; k < len; k++) {
      const o = k * n
      rank.fill(0)
      for (let i = 1; i < n; i++) {
        const yi = key[o + i]; let ri = 0
        for (let j = 0; j < i; j++) { const c = ((key[o + j] - yi - 1) >> 31) & 1; ri += c; rank[j] += 1 - c }
        rank[i] += ri
      }
      let s1 = 0; let s2 = 0
      for (let i = 0; i < n; i++) { const x = blk[o + i]; s1 += x * w1[rank[i]]; s2 += x * w2[rank[i]] }
      res1[k] = s1; res2[k] = s2
    }
  }
}
