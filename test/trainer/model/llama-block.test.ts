// A whole LLaMA block (GQA attention with RoPE, causal and padding masks, SwiGLU MLP, RMSNorms, tied head):
// gradients of every weight and of the embedding against finite differences, in float64.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { op } from '../../../trainer/graph/index.ts'
import type { Value } from '../../../trainer/graph/index.ts'
import type { LlamaConfig } from '../../../trainer/model/config.ts'
import { decoder, lmHead, ropeTables } from '../../../trainer/model/llama-graph.ts'
import type { LlamaWeights } from '../../../trainer/model/llama-graph.ts'
import { gradCheck } from '../graph/gradcheck.ts'

const c: LlamaConfig = {
  dim: 16, hiddenDim: 12, nLayers: 1, nHeads: 4, nKvHeads: 2, vocabSize: 7, maxSeqLen: 8,
  normEps: 1e-5, ropeTheta: 10000, tiedEmbeddings: true, bosId: 1, eosId: 2
}
const hd = c.dim / c.nHeads

test('one LLaMA block (GQA, padding) matches finite differences for every weight', async () => {
  const B = 2
  const T = 3
  const ids = BigInt64Array.from([1n, 5n, 3n, 6n, 0n, 2n])
  const mask = BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 0n]) // second example right-padded
  const shapes: Array<[string, number[]]> = [['embed', [c.vocabSize, c.dim]], ['attnNorm', [c.dim]],
    ['mlpNorm', [c.dim]], ['norm', [c.dim]],
    ['q', [c.dim, c.dim]], ['k', [c.nKvHeads * hd, c.dim]], ['v', [c.nKvHeads * hd, c.dim]], ['o', [c.dim, c.dim]],
    ['gate', [c.hiddenDim, c.dim]], ['up', [c.hiddenDim, c.dim]], ['down', [c.dim, c.hiddenDim]]]
  const err = await gradCheck([
    { shape: [B, T], declared: ['B', 'T'], dtype: 'int64', data: ids },
    { shape: [B, T], declared: ['B', 'S'], dtype: 'int64', data: mask },
    ...shapes.map(([, s]) => ({ shape: s }))
  ], (idsV: Value, maskV: Value, embed, attnNorm, mlpNorm, norm, q, k, v, o, gate, up, down) => {
    const [cos, sin] = ropeTables(idsV.graph, c)
    const w: LlamaWeights = {
      embed: embed!, norm: norm!, lmHead: embed!, cos, sin,
      layers: [{ attnNorm: attnNorm!, mlpNorm: mlpNorm!,
        linear: { q_proj: q!, k_proj: k!, v_proj: v!, o_proj: o!, gate_proj: gate!, up_proj: up!, down_proj: down! } }]
    }
    const { hidden } = decoder(c, w, { inputIds: idsV, attentionMask: maskV })
    return op.mul(lmHead(w, hidden), 0.5)
  })
  assert.ok(err < 1e-6, `relative gradient error ${err}`)
})
