// Dense float64 routines for the small (n·r x n·r) matrices of the product-space rules. Row-major Float64Array.

/**
 * Eigen-decomposition of a symmetric n x n matrix: Householder tridiagonalisation then the implicit QL method
 * (tred2/tql2 of EISPACK, as in JAMA). Returns eigenvalues in descending order and the eigenvectors as the
 * COLUMNS of `vectors` (row-major n x n), in the same order.
 */
export function symmetricEigen (a: Float64Array, n: number): { values: Float64Array, vectors: Float64Array } {
  const V = Float64Array.from(a.subarray(0, n * n))
  const d = new Float64Array(n); const e = new Float64Array(n)
  if (n === 0) return { values: d, vectors: V }
  tred2(V, d, e, n)
  tql2(V, d, e, n)
  // sort descending
  const idx = [...Array(n).keys()].sort((x, y) => d[y] - d[x])
  const values = Float64Array.from(idx, (i) => d[i])
  const vectors = new Float64Array(n * n)
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) vectors[r * n + c] = V[r * n + idx[c]]
  return { values, vectors }
}

function tred2 (V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j]
  for (let i = n - 1; i > 0; i--) {
    let scale = 0; let h = 0
    for (let k = 0; k < i; k++) scale += Math.abs(d[k])
    if (scale === 0) {
      e[i] = d[i - 1]
      for (let j = 0; j < i; j++) { d[j] = V[(i - 1) * n + j]; V[i * n + j] = 0; V[j * n + i] = 0 }
    } else {
      for (let k = 0; k < i; k++) { d[k] /= scale; h += d[k] * d[k] }
      let f = d[i - 1]
      let g = Math.sqrt(h)
      if (f > 0) g = -g
      e[i] = scale * g
      h -= f * g
      d[i - 1] = f - g
      for (let j = 0; j < i; j++) e[j] = 0
      for (let j = 0; j < i; j++) {
        f = d[j]
        V[j * n + i] = f
        g = e[j] + V[j * n + j] * f
        for (let k = j + 1; k <= i - 1; k++) { g += V[k * n + j] * d[k]; e[k] += V[k * n + j] * f }
        e[j] = g
      }
      f = 0
      for (let j = 0; j < i; j++) { e[j] /= h; f += e[j] * d[j] }
      const hh = f / (h + h)
      for (let j = 0; j < i; j++) e[j] -= hh * d[j]
      for (let j = 0; j < i; j++) {
        f = d[j]; g = e[j]
        for (let k = j; k <= i - 1; k++) V[k * n + j] -= (f * e[k] + g * d[k])
        d[j] = V[(i - 1) * n + j]
        V[i * n + j] = 0
      }
    }
    d[i] = h
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i]
    V[i * n + i] = 1
    const h = d[i + 1]
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1] / h
      for (let j = 0; j <= i; j++) {
        let g = 0
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1] * V[k * n + j]
        for (let k = 0; k <= i; k++) V[k * n + j] -= g * d[k]
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0
  }
  for (let j = 0; j < n; j++) { d[j] = V[(n - 1) * n + j]; V[(n - 1) * n + j] = 0 }
  V[(n - 1) * n + n - 1] = 1
  e[0] = 0
}

function tql2 (V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]
  e[n - 1] = 0
  let f = 0; let tst1 = 0
  const eps = 2 ** -52
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]))
    let m = l
    while (m < n) { if (Math.abs(e[m]) <= eps * tst1) break; m++ }
    if (m > l) {
      let iter = 0
      do {
        if (++iter > 60) throw new Error('symmetricEigen: QL iteration did not converge')
        let g = d[l]
        let p = (d[l + 1] - g) / (2 * e[l])
        let r = Math.hypot(p, 1)
        if (p < 0) r = -r
        d[l] = e[l] / (p + r)
        d[l + 1] = e[l] * (p + r)
        const dl1 = d[l + 1]
        let h = g - d[l]
        for (let i = l + 2; i < n; i++) d[i] -= h
        f += h
        p = d[m]
        let c = 1; let c2 = c; let c3 = c
        const el1 = e[l + 1]
        let s = 0; let s2 = 0
        for (let i = m - 1; i >= l; i--) {
          c3 = c2; c2 = c; s2 = s
          g = c * e[i]; h = c * p
          r = Math.hypot(p, e[i])
          e[i + 1] = s * r
          s = e[i] / r; c = p / r
          p = c * d[i] - s * g
          d[i + 1] = h + s * (c * g + s * d[i])
          for (let k = 0; k < n; k++) {
            h = V[k * n + i + 1]
            V[k * n + i + 1] = s * V[k * n + i] + c * h
            V[k * n + i] = c * V[k * n + i] - s * h
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1
        e[l] = s * p
        d[l] = c * p
      } while (Math.abs(e[l]) > eps * tst1)
    }
    d[l] += f
    e[l] = 0
  }
}

/**
 * Cholesky with complete (diagonal) pivoting of a symmetric positive semi-definite n x n matrix:
 * P^T G P ≈ L L^T with L n x rank lower-trapezoidal (row-major n x n storage, columns >= rank are zero).
 * Stops when the largest remaining pivot is <= relTol x the largest diagonal entry (numerical rank).
 * perm[t] is the original index of permuted position t.
 */
export function pivotedCholesky (G: Float64Array, n: number,
  relTol: number): { L: Float64Array, perm: Int32Array, rank: number } {
  const L = new Float64Array(n * n)
  const perm = Int32Array.from({ length: n }, (_, i) => i)
  const diag = new Float64Array(n)
  let maxDiag = 0
  for (let i = 0; i < n; i++) { diag[i] = G[i * n + i]; maxDiag = Math.max(maxDiag, diag[i]) }
  const tol = relTol * maxDiag
  let rank = 0
  for (let j = 0; j < n; j++) {
    let p = j
    for (let i = j + 1; i < n; i++) if (diag[perm[i]] > diag[perm[p]]) p = i
    if (!(diag[perm[p]] > tol)) break
    if (p !== j) {
      const t = perm[j]; perm[j] = perm[p]; perm[p] = t
      for (let c = 0; c < j; c++) { const x = L[j * n + c]; L[j * n + c] = L[p * n + c]; L[p * n + c] = x }
    }
    const ljj = Math.sqrt(diag[perm[j]])
    L[j * n + j] = ljj
    const pj = perm[j]
    for (let i = j + 1; i < n; i++) {
      let s = G[perm[i] * n + pj]
      for (let c = 0; c < j; c++) s -= L[i * n + c] * L[j * n + c]
      const lij = s / ljj
      L[i * n + j] = lij
      diag[perm[i]] -= lij * lij
    }
    rank = j + 1
  }
  return { L, perm, rank }
}
