import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pivotedCholesky, symmetricEigen } from '../../../trainer/aggregate/small-linalg.ts'
import { gramOfColumns, gramOfRows } from '../../../trainer/aggregate/gram-kernel.ts'
import { rng } from './fixtures.ts'

test('symmetric eigen reconstructs the matrix with orthonormal vectors, values descending', () => {
  const rand = rng(1)
  for (const n of [1, 2, 5, 31]) {
    const a = new Float64Array(n * n)
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
      const v = rand() - 0.5
      a[i * n + j] = v
      a[j * n + i] = v
    }
    const { values, vectors } = symmetricEigen(a, n)
    for (let i = 1; i < n; i++) assert.ok(values[i - 1] >= values[i])
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let rec = 0; let orth = 0
      for (let k = 0; k < n; k++) {
        rec += vectors[i * n + k] * values[k] * vectors[j * n + k]
        orth += vectors[k * n + i] * vectors[k * n + j]
      }
      assert.ok(Math.abs(rec - a[i * n + j]) < 1e-13, `reconstruct ${n}`)
      assert.ok(Math.abs(orth - (i === j ? 1 : 0)) < 1e-13, `orthonormal ${n}`)
    }
  }
  // a hand case: [[2, 1], [1, 2]] has eigenvalues 3 and 1
  assert.deepEqual([...symmetricEigen(Float64Array.of(2, 1, 1, 2), 2).values].map((v) => Math.round(v * 1e12) / 1e12),
    [3, 1])
})

test('pivoted Cholesky finds the numerical rank of a rank-deficient Gram matrix', () => {
  const rand = rng(2)
  const n = 9; const r = 4
  const X = Array.from({ length: n * r }, () => rand() - 0.5)
  const G = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) for (let k = 0; k < r; k++) G[i * n + j] += X[i * r + k] * X[j * r + k]
  }
  const { L, perm, rank } = pivotedCholesky(G, n, 1e-13)
  assert.equal(rank, r)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0
    for (let k = 0; k < rank; k++) s += L[i * n + k] * L[j * n + k]
    assert.ok(Math.abs(s - G[perm[i] * n + perm[j]]) < 1e-13)
  }
  assert.equal(pivotedCholesky(new Float64Array(4), 2, 1e-13).rank, 0)
})

test('blocked Gram kernels match the naive sums (ranks not a multiple of 4, rows not a multiple of the block)', () => {
  const rand = rng(3)
  const rows = 70; const cols = 131
  const B1 = Float32Array.from({ length: rows * 3 }, rand); const B2 = Float32Array.from({ length: rows * 2 }, rand)
  const GB = gramOfColumns([B1, B2], [3, 2], rows)
  const col = (c: number, p: number): number => c < 3 ? B1[p * 3 + c] : B2[p * 2 + c - 3]
  const A1 = Float32Array.from({ length: 3 * cols }, rand); const A2 = Float32Array.from({ length: 2 * cols }, rand)
  const GA = gramOfRows([A1, A2], [3, 2], cols)
  const row = (c: number, q: number): number => c < 3 ? A1[c * cols + q] : A2[(c - 3) * cols + q]
  for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) {
    let sb = 0; let sa = 0
    for (let p = 0; p < rows; p++) sb += col(a, p) * col(b, p)
    for (let q = 0; q < cols; q++) sa += row(a, q) * row(b, q)
    assert.ok(Math.abs(sb - GB[a * 5 + b]) < 1e-12 && Math.abs(sa - GA[a * 5 + b]) < 1e-12)
  }
})
