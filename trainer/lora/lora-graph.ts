// LoRA as a wrapper around the model's linear layers: y = x W^T + scale * (dropout(x) A^T) B^T, with
// A [r, in] and B [out, r] graph inputs named exactly as PEFT names them, so an Adapter's tensors feed the graph
// by name and the gradients come back under `<name>.grad`.
import type { Graph, Value } from '../graph/graph.ts'
import * as op from '../graph/ops.ts'
import type { LinearHook } from '../model/llama-graph.ts'
import { plainLinear } from '../model/llama-graph.ts'
import type { LinearModule } from '../model/config.ts'
import type { LoraConfig } from './adapter.ts'
import { loraName, loraScale } from './adapter.ts'
import type { DropoutSite } from './dropout-masks.ts'

export interface LoraGraphOptions {
  /** apply the config's dropout (training; its keep-masks are graph inputs, see dropout-masks.ts); off for
   *  evaluation and generation */
  readonly train?: boolean
  /** merge LoRA into weights up to this many elements (default MERGED_LORA_MAX_WEIGHTS; 0 = never) */
  readonly mergedMaxWeights?: number
}

export interface LoraSite {
  readonly name: string
  readonly value: Value
  readonly layer: number
  readonly module: LinearModule
  readonly part: 'A' | 'B'
}

/**
 * Weights up to this many elements (256 x 256) get LoRA merged into them each run instead of the low-rank
 * branch: for such tiny matrices the three small Gemms and the Add of the branch cost more than one
 * [out, in] product (stories260K: all its linear layers).
 */
export const MERGED_LORA_MAX_WEIGHTS = 1 << 16

/**
 * y = x (W + scale B A)^T as one composite. Backward: dx = dY W'; dA and dB either through dW' = dY^T x (one
 * [out, in] product over the N rows) or through the low-rank products dB = scale dY^T (x A^T) and
 * dA = scale (dY B)^T x (four products with r columns: 2 N r (out + in) multiply-adds instead of N out in).
 * MLAS runs the thin products at about half the rate of the square one, so the low-rank form wins once
 * out in > 4 r (out + in). Measured per module, N = 2048, r = 8, square -> low-rank: 172x64 0.27 -> 0.22 ms,
 * 64x172 0.28 -> 0.20 ms, 64x64 0.12 both, 32x64 0.08 -> 0.10 ms.
 */
function mergedLora (x: Value, w: Value, a: Value, b: Value, scale: number): Value {
  const merged = op.gemm(b, a, { alpha: scale, c: op.cast(w, x.dtype) }) // W + scale B A (a small W: cast whole)
  const y = op.gemm(x, merged, { transB: true })
  const [out, inp] = w.shape as [number, number]
  const r = a.shape[0] as number
  return op.composite('MergedLoRA', [x, a, b], y, (g, [nx, na, nb]) => {
    const dx = nx ? op.gemm(g, merged) : undefined
    if (out * inp > 4 * r * (out + inp)) {
      return [
        dx,
        na ? op.gemm(op.gemm(g, b), x, { transA: true, alpha: scale }) : undefined,
        nb ? op.gemm(g, op.gemm(x, a, { transB: true }), { transA: true, alpha: scale }) : undefined
      ]
    }
    const dw = op.gemm(g, x, { transA: true }) // [out, in]
    return [
      dx,
      na ? op.gemm(b, dw, { transA: true, alpha: scale }) : undefined,
      nb ? op.gemm(dw, a, { transB: true, alpha: scale }) : undefined
    ]
  })
}

/** A linear hook adding LoRA to the configured modules; `sites` lists the graph inputs it created, in order. */
export function loraLinear (g: Graph, cfg: LoraConfig, o: LoraGraphOptions = {}):
{ linear: LinearHook, sites: LoraSite[], masks: DropoutSite[] } {
  const sites: LoraSite[] = []
  const masks: DropoutSite[] = []
  const scale = loraScale(cfg)
  const p = o.train === true ? cfg.dropout : 0
  // a module's inputs are made once: a layer built again (activation recomputation, llama-graph.ts) reads the same
  const keeps = new Map<string, Value>()
  const inputs = new Map<string, { a: Value, b: Value }>()
  const lowRank = (x: Value, w: Value, a: Value, b: Value, base: Value, layer: number, module: LinearModule):
  Value => {
    const [out, inp] = w.shape as [number, number]
    // a small weight without dropout: y = x (W + scale B A)^T, one Gemm instead of three (mergedLora); large
    // weights keep the low-rank branch, its sum with the base product done by the branch Gemm's C
    if (p === 0 && out * inp <= (o.mergedMaxWeights ?? MERGED_LORA_MAX_WEIGHTS)) return mergedLora(x, w, a, b, scale)
    if (p === 0) return op.gemm(op.gemm(x, a, { transB: true }), b, { transB: true, alpha: scale, c: base })
    // inverted dropout on the branch's input: keep-mask input [N, in], the 1 / (1 - p) folded into B's Gemm
    const keepName = `${loraName(layer, module, 'A')}.dropout_keep`
    let keep = keeps.get(keepName)
    if (keep === undefined) {
      keep = g.input(keepName, 'bool', [x.shape[0]!, inp])
      keeps.set(keepName, keep)
      masks.push({ name: keepName, cols: inp })
    }
    const h = op.gemm(op.where(keep, x, 0), a, { transB: true }) // (N, r)
    return op.gemm(h, b, { transB: true, alpha: scale / (1 - p), c: base }) // (N, out)
  }
  const linear: LinearHook = (x, w, layer, module) => {
    const base = plainLinear(x, w, layer, module)
    if (!cfg.targetModules.includes(module)) return base
    const [out, inp] = w.shape as [number, number]
    const key = loraName(layer, module, 'A')
    let made = inputs.get(key)
    if (made === undefined) {
      made = { a: g.input(key, g.float, [cfg.r, inp]), b: g.input(loraName(layer, module, 'B'), g.float, [out, cfg.r]) }
      inputs.set(key, made)
      sites.push({ name: made.a.name!, value: made.a, layer, module, part: 'A' })
      sites.push({ name: made.b.name!, value: made.b, layer, module, part: 'B' })
    }
    const { a, b } = made
    // the LoRA tensors stay float32 (so do their gradients, through the Cast's backward); half activations get
    // them narrowed where they are read
    return lowRank(x, w, op.cast(a, x.dtype), op.cast(b, x.dtype), base, layer, module)
  }
  return { linear, sites, masks }
}
