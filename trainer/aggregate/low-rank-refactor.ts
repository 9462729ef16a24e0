// The stacking scheme: the best rank-r factorisation of W = sum_b c_b B_b A_b without ever forming W.
// Stack the factors, W = Bs · As with Bs = [c_1 B_1 | ... | c_n B_n] (out x K) and As = [A_1; ...; A_n] (K x in).
// With the K x K Gram matrices GB = Bsᵀ Bs and GA = As Asᵀ (float64, one read of the factors):
//   pivoted Cholesky  Pᵀ GA P = L Lᵀ          so As = P L Qᵀ with Qᵀ = L₁⁻¹ (Pᵀ As)[:k] orthonormal rows
//   then W = C Qᵀ with C = Bs P L (out x k), and Cᵀ C = Lᵀ Pᵀ GB P L = V Λ Vᵀ (k x k, symmetric eigen)
//   so W's SVD is (C V Λ^-½) Λ^½ (Vᵀ Qᵀ) and the truncation to the top r is optimal (Eckart–Young).
// Split Λ^½ evenly between the new factors (balanced), and divide out the output scale alpha/r.
import { pivotedCholesky, symmetricEigen } from './small-linalg.ts'
import { offsets } from './gram-kernel.ts'

export interface StackedFactors {
  readonly B: readonly Float32Array[] // [out, r_b] row-major
  readonly A: readonly Float32Array[] // [r_b, in] row-major
  readonly ranks: readonly number[]
  readonly coefs: readonly number[] // c_b (weight x lora scale), per block
  readonly out: number
  readonly in: number
  /** Gram matrices of the UNSCALED stacks (K x K, K = sum ranks), in block order */
  readonly GB: Float64Array
  readonly GA: Float64Array
}

export interface RefactorOptions {
  readonly rank: number // r of the result
  readonly scale: number // alpha / r of the result: B·A·scale = W_r
  /** [rank, in]: rows used for A where W has fewer than `rank` directions (B's column is 0 there, W unchanged) */
  readonly fallbackA?: Float32Array
}

// directions of As with (pivot)² below this fraction of the largest are below float32 resolution of W
const CHOLESKY_REL_TOL = 1e-13
const EIGEN_REL_TOL = 1e-14

export function refactorStacked (f: StackedFactors,
  opts: RefactorOptions): { B: Float32Array, A: Float32Array, singularValues: Float64Array } {
  const K = f.ranks.reduce((a, b) => a + b, 0)
  const r = opts.rank
  const offs = offsets(f.ranks)
  const d = new Float64Array(K) // column scale of Bs
  f.ranks.forEach((rb, b) => { for (let c = 0; c < rb; c++) d[offs[b] + c] = f.coefs[b] })
  const { L, perm, rank: k } = pivotedCholesky(f.GA, K, CHOLESKY_REL_TOL)
  // Hp = Pᵀ (D GB D) P, then M = Lᵀ Hp L (only the first k columns of L are non-zero)
  const Hp = new Float64Array(K * K)
  for (let t = 0; t < K; t++) {
    for (let u = 0; u < K; u++) Hp[t * K + u] = d[perm[t]] * f.GB[perm[t] * K + perm[u]] * d[perm[u]]
  }
  const HL = new Float64Array(K * k) // Hp L
  for (let t = 0; t < K; t++) {
    for (let j = 0; j < k; j++) {
      let s = 0
      for (let u = j; u < K; u++) s += Hp[t * K + u] * L[u * K + j]
      HL[t * k + j] = s
    }
  }
  const M = new Float64Array(k * k)
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let s = 0
      for (let t = i; t < K; t++) s += L[t * K + i] * HL[t * k + j]
      M[i * k + j] = s; M[j * k + i] = s
    }
  }
  const { values, vectors } = symmetricEigen(M, k)
  const top = values.length > 0 ? Math.max(values[0], 0) : 0
  const sigma = new Float64Array(r)
  const live: number[] = []
  for (let j = 0; j < r && j < k; j++) {
    if (values[j] > EIGEN_REL_TOL * top && values[j] > 0) { sigma[j] = Math.sqrt(values[j]); live.push(j) }
  }
  const rootScale = Math.sqrt(opts.scale)
  // X (K x r): B' = Bs_unscaled · X, X[perm[t], j] = d[perm[t]] (L V)[t, j] σ_j^-½ / √scale
  const X = new Float64Array(K * r)
  for (const j of live) {
    const g = 1 / (Math.sqrt(sigma[j]) * rootScale)
    for (let t = 0; t < K; t++) {
      let s = 0
      const lim = Math.min(t + 1, k)
      for (let u = 0; u < lim; u++) s += L[t * K + u] * vectors[u * k + j]
      X[perm[t] * r + j] = d[perm[t]] * s * g
    }
  }
  // Y (r x k): A' = Y · (Pᵀ As)[:k], Y[j] = σ_j^½ / √scale · v_jᵀ L₁⁻¹  (solve L₁ᵀ y = v by back substitution)
  const Y = new Float64Array(r * k)
  for (const j of live) {
    const g = Math.sqrt(sigma[j]) / rootScale
    for (let t = k - 1; t >= 0; t--) {
      let s = vectors[t * k + j]
      for (let u = t + 1; u < k; u++) s -= L[u * K + t] * Y[j * k + u]
      Y[j * k + t] = s / L[t * K + t]
    }
    for (let t = 0; t < k; t++) Y[j * k + t] *= g
  }
  // B'[p, j] = <row p of the unscaled stack, column j of X>: gather the row once, then r dot products in registers
  const B = new Float32Array(f.out * r)
  const Xt = new Float64Array(r * K) // X transposed: column j contiguous
  for (let t = 0; t < K; t++) for (let j = 0; j < r; j++) Xt[j * K + t] = X[t * r + j]
  const row = new Float64Array(K)
  for (let p = 0; p < f.out; p++) {
    for (let b = 0; b < f.ranks.length; b++) {
      const Bb = f.B[b]; const rb = f.ranks[b]; const o = offs[b]; const src = p * rb
      for (let c = 0; c < rb; c++) row[o + c] = Bb[src + c]
    }
    for (const j of live) {
      const xo = j * K
      let s0 = 0; let s1 = 0; let t = 0
      for (; t + 1 < K; t += 2) { s0 += row[t] * Xt[xo + t]; s1 += row[t + 1] * Xt[xo + t + 1] }
      if (t < K) s0 += row[t] * Xt[xo + t]
      B[p * r + j] = s0 + s1
    }
  }
  const A = new Float32Array(r * f.in)
  const rowAcc = new Float64Array(f.in)
  const blockOf = new Int32Array(K); const rowOf = new Int32Array(K)
  f.ranks.forEach((rb, b) => { for (let c = 0; c < rb; c++) { blockOf[offs[b] + c] = b; rowOf[offs[b] + c] = c } })
  const isLive = new Uint8Array(r)
  for (const j of live) isLive[j] = 1
  const srcOf = (t: number): [Float32Array, number] => [f.A[blockOf[perm[t]]], rowOf[perm[t]] * f.in]
  for (let j = 0; j < r; j++) {
    if (isLive[j] === 0) {
      if (opts.fallbackA !== undefined) A.set(opts.fallbackA.subarray(j * f.in, (j + 1) * f.in), j * f.in)
      continue
    }
    rowAcc.fill(0)
    let t = 0
    for (; t + 3 < k; t += 4) { // four source rows per sweep over the accumulator
      const [a0, o0] = srcOf(t); const [a1, o1] = srcOf(t + 1); const [a2, o2] = srcOf(t + 2)
      const [a3, o3] = srcOf(t + 3)
      const y0 = Y[j * k + t]; const y1 = Y[j * k + t + 1]; const y2 = Y[j * k + t + 2]; const y3 = Y[j * k + t + 3]
      for (let q = 0; q < f.in; q++) rowAcc[q] += y0 * a0[o0 + q] + y1 * a1[o1 + q] + y2 * a2[o2 + q] + y3 * a3[o3 + q]
    }
    for (; t < k; t++) {
      const [a0, o0] = srcOf(t); const y0 = Y[j * k + t]
      for (let q = 0; q < f.in; q++) rowAcc[q] += y0 * a0[o0 + q]
    }
    for (let q = 0; q < f.in; q++) A[j * f.in + q] = rowAcc[q]
  }
  return { B, A, singularValues: sigma }
}
