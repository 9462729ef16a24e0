// One linear layer of a 7B shape, y = x W^T with W [4096, 4096], each way the graphs can run it over a frozen
// weight: fp16 stored and cast at the Gemm (composites.castLinear), block-quantized codes multiplied by ORT's
// MatMulNBits (quantized.quantLinear), and the codes dequantized whole (DequantizeLinear) then a Gemm, the
// backward's alternative. Rows: 128 (a train or eval micro-batch) and 1 (a decoded token). CPU time of one call
// (user + system over the session's threads), best of --runs. The last line: {"bench":"quantized-ops", ...}.
// Usage: npm run bench -- quantized-ops [--n 4096] [--threads 2] [--runs 5]
import ort from 'onnxruntime-node'
import { numberFlag } from './lib/args.ts'
import { Graph } from '../trainer/graph/graph.ts'
import type { Value } from '../trainer/graph/graph.ts'
import * as op from '../trainer/graph/ops.ts'
import { castLinear } from '../trainer/graph/composites.ts'
import { rawTensor } from '../trainer/graph/onnx-proto.ts'
import { ONNX_TYPE } from '../trainer/graph/types.ts'
import { quantizedWeight, quantLinear } from '../trainer/graph/quantized.ts'
import { createSession } from '../trainer/graph/session.ts'
import { quantizeMatrix } from '../trainer/model/quantize.ts'
import type { QuantBits } from '../trainer/model/quantize.ts'
import { float32ToFloat16 } from '../trainer/safetensors.ts'

const n = numberFlag('n', 4096)
const threads = numberFlag('threads', 2)
const runs = numberFlag('runs', 5)
const w = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.618) * 0.05)
const half = Uint16Array.from(w, float32ToFloat16)
const codes = new Map<QuantBits, ReturnType<typeof quantizeMatrix>>([8, 4].map((b) =>
  [b as QuantBits, quantizeMatrix(w, n, n, b as QuantBits, 32)]))

type Arm = (g: Graph, x: Value) => Value
const fp16 = (g: Graph): Value =>
  g.initializer('w', 'float16', [n, n], (nm) => rawTensor(nm, ONNX_TYPE.float16, [n, n], half))
const arms: Record<string, Arm> = {
  fp16Cast: (g, x) => castLinear(x, fp16(g)),
  int8MatMulNBits: (g, x) => quantLinear(x, quantizedWeight(g, 'w', codes.get(8)!)),
  int4MatMulNBits: (g, x) => quantLinear(x, quantizedWeight(g, 'w', codes.get(4)!)),
  int8Dequantize: (g, x) => op.gemm(x, quantizedWeight(g, 'w', codes.get(8)!), { transB: true }),
  int4Dequantize: (g, x) => op.gemm(x, quantizedWeight(g, 'w', codes.get(4)!), { transB: true })
}

const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
const result: Record<string, Record<string, number>> = {}
for (const rows of [128, 1]) {
  const line: Record<string, number> = {}
  for (const [name, arm] of Object.entries(arms)) {
    const g = new Graph()
    const x = g.input('x', 'float32', ['M', n])
    const session = await createSession(g.toModel({ y: arm(g, x) }, { name }), { threads })
    const feeds = { x: new ort.Tensor('float32', Float32Array.from({ length: rows * n }, (_, i) => Math.cos(i)),
      [rows, n]) }
    await session.run(feeds)
    let best = Infinity
    for (let r = 0; r < runs; r++) {
      const t0 = cpuMs()
      await session.run(feeds)
      best = Math.min(best, cpuMs() - t0)
    }
    await session.release()
    line[`${name}Ms`] = Number(best.toFixed(1))
  }
  console.log(`${rows} rows: ${JSON.stringify(line)}`)
  result[`rows${rows}`] = line
}
console.log(JSON.stringify({ bench: 'quantized-ops', n, threads, ...result }))
