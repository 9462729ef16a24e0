// G += X^T X for a block of T gathered rows, the hot loop of the product-space rules (it reads every value of
// every stacked LoRA factor once). X is stored transposed, column c of X as xt[c*T .. c*T+T), with the column
// count padded to a multiple of 4 so the loop can work in 4 x 4 tiles (16 multiply-adds per 8 loads).

/**
 * Accumulate the upper triangle (tile-wise) of xt·xtᵀ into G (kp x kp, kp a multiple of 4). Call symmetrize() after.
 */
export function gramAccumulate (G: Float64Array, xt: Float64Array, kp: number, T: number): void {
  for (let a = 0; a < kp; a += 4) {
    const a0 = a * T; const a1 = a0 + T; const a2 = a1 + T; const a3 = a2 + T
    for (let b = a; b < kp; b += 4) {
      const b0 = b * T; const b1 = b0 + T; const b2 = b1 + T; const b3 = b2 + T
      let s00 = 0; let s01 = 0; let s02 = 0; let s03 = 0
      let s10 = 0; let s11 = 0; let s12 = 0; let s13 = 0
      let s20 = 0; let s21 = 0; let s22 = 0; let s23 = 0
      let s30 = 0; let s31 = 0; let s32 = 0; let s33 = 0
      for (let t = 0; t < T; t++) {
        const x0 = xt[a0 + t]; const x1 = xt[a1 + t]; const x2 = xt[a2 + t]; const x3 = xt[a3 + t]
        const y0 = xt[b0 + t]; const y1 = xt[b1 + t]; const y2 = xt[b2 + t]; const y3 = xt[b3 + t]
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3
        s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3
        s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3
      }
      let o = a * kp + b
      G[o] += s00; G[o + 1] += s01; G[o + 2] += s02; G[o + 3] += s03; o += kp
      G[o] += s10; G[o + 1] += s11; G[o + 2] += s12; G[o + 3] += s13; o += kp
      G[o] += s20; G[o + 1] += s21; G[o + 2] += s22; G[o + 3] += s23; o += kp
      G[o] += s30; G[o + 1] += s31; G[o + 2] += s32; G[o + 3] += s33
    }
  }
}

/** Copy the upper triangle onto the lower one (the diagonal tiles are computed in full, so this is exact). */
export function symmetrize (G: Float64Array, k: number): void {
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) G[i * k + j] = G[j * k + i]
}

export const GRAM_ROWS = 64 // T: rows gathered per block

/**
 * Gram matrix of the columns of a stack of row-major [rows, r_b] matrices placed side by side
 * (the B factors: [B_1 | B_2 | ...], rows x sum r_b). Unscaled; returns k x k, k = sum r_b.
 */
export function gramOfColumns (blocks: readonly Float32Array[], ranks: readonly number[], rows: number): Float64Array {
  const k = ranks.reduce((a, b) => a + b, 0); const kp = (k + 3) & ~3
  const offs = offsets(ranks)
  const G = new Float64Array(kp * kp); const T = GRAM_ROWS
  const xt = new Float64Array(kp * T)
  for (let p0 = 0; p0 < rows; p0 += T) {
    const len = Math.min(T, rows - p0)
    if (len < T) xt.fill(0)
    for (let b = 0; b < blocks.length; b++) {
      const B = blocks[b]; const r = ranks[b]; const off = offs[b]
      for (let t = 0; t < len; t++) {
        const src = (p0 + t) * r
        for (let c = 0; c < r; c++) xt[(off + c) * T + t] = B[src + c]
      }
    }
    gramAccumulate(G, xt, kp, T)
  }
  return compact(G, kp, k)
}

/**
 * Gram matrix of the rows of a stack of row-major [r_b, cols] matrices placed one under another
 * (the A factors: [A_1; A_2; ...], sum r_b x cols). Unscaled; returns k x k.
 */
export function gramOfRows (blocks: readonly Float32Array[], ranks: readonly number[], cols: number): Float64Array {
  const k = ranks.reduce((a, b) => a + b, 0); const kp = (k + 3) & ~3
  const offs = offsets(ranks)
  const G = new Float64Array(kp * kp); const T = GRAM_ROWS
  const xt = new Float64Array(kp * T)
  for (let q0 = 0; q0 < cols; q0 += T) {
    const len = Math.min(T, cols - q0)
    if (len < T) xt.fill(0)
    for (let b = 0; b < blocks.length; b++) {
      const A = blocks[b]; const r = ranks[b]; const off = offs[b]
      for (let c = 0; c < r; c++) {
        const src = c * cols + q0; const dst = (off + c) * T
        for (let t = 0; t < len; t++) xt[dst + t] = A[src + t]
      }
    }
    gramAccumulate(G, xt, kp, T)
  }
  return compact(G, kp, k)
}

export function offsets (ranks: readonly number[]): number[] {
  const o: number[] = []; let s = 0
  for (const r of ranks) { o.push(s); s += r }
  return o
}

function compact (G: Float64Array, kp: number, k: number): Float64Array {
  const out = new Float64Array(k * k)
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) out[i * k + j] = G[i * kp + j]
  symmetrize(out, k)
  return out
}
