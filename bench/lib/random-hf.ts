// A random Hugging Face LLaMA folder (config.json, sharded fp16/bf16 model-*.safetensors with an index, the
// LLaMA-2 tokenizer), written once and reused: the 7B bench's model, and small ones for tests. Every tensor
// has its own seed, so no two are equal (identical blocks would let ORT merge them and hide memory). Values
// come from a 65536-entry table of the format's values of a uniform law, indexed by a fast generator, so 13.5 GB
// are written at disk speed. Written into a temp folder renamed into place: a folder that exists is complete.
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { LlamaConfig } from '../../trainer/model/config.ts'
import { expectedWeightShapes } from '../../trainer/checkpoint/weight-shapes.ts'
import { toHfConfig } from '../../trainer/checkpoint/hf-config.ts'
import { float32ToBfloat16, float32ToFloat16 } from '../../trainer/safetensors.ts'

export type HalfDtype = 'F16' | 'BF16'

/** LLaMA-2-7B's shape (transformers' meta-llama/Llama-2-7b-hf config.json), with `nLayers` decoder blocks. */
export const llama2_7b = (nLayers = 32): LlamaConfig => ({
  dim: 4096,
  hiddenDim: 11008,
  nLayers,
  nHeads: 32,
  nKvHeads: 32,
  vocabSize: 32000,
  maxSeqLen: 4096,
  normEps: 1e-5,
  ropeTheta: 10000,
  tiedEmbeddings: false,
  bosId: 1,
  eosId: 2
})

const SHARD_BYTES = 2 * 1024 ** 3
const CHUNK = 1 << 24 // elements generated per write

/** 65536 values of the format evenly spread over (-scale, scale), as raw 16-bit patterns */
function valueTable (dtype: HalfDtype, scale: number, center: number): Uint16Array {
  const t = new Uint16Array(65536)
  const conv = dtype === 'F16' ? float32ToFloat16 : float32ToBfloat16
  for (let i = 0; i < 65536; i++) t[i] = conv(center + ((i + 0.5) / 65536 * 2 - 1) * scale)
  return t
}

/**
 * Writes the folder at `dir` unless it already exists (then returns at once). `tokenizerDir` (optional) holds
 * tokenizer.json and tokenizer_config.json to copy. `onProgress` gets the bytes written so far and the total.
 */
export function writeRandomHf (dir: string, c: LlamaConfig, dtype: HalfDtype, o: {
  tokenizerDir?: string
  onProgress?: (done: number, total: number) => void
} = {}): void {
  if (existsSync(join(dir, 'config.json'))) return
  const tmp = `${dir}.partial`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  const shapes = [...expectedWeightShapes(c)]
  // shards of about SHARD_BYTES, in name order
  const shards: Array<Array<[string, readonly number[]]>> = [[]]
  let size = 0
  for (const [name, shape] of shapes) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2
    if (size > 0 && size + bytes > SHARD_BYTES) { shards.push([]); size = 0 }
    shards[shards.length - 1]!.push([name, shape])
    size += bytes
  }
  const total = shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1) * 2, 0)
  const weightMap: Record<string, string> = {}
  const buf = new Uint16Array(CHUNK)
  let done = 0
  let seed = 0x9e3779b9
  shards.forEach((tensors, k) => {
    const file = `model-${String(k + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } }
    let offset = 0
    for (const [name, shape] of tensors) {
      const len = shape.reduce((a, b) => a * b, 1) * 2
      header[name] = { dtype, shape, data_offsets: [offset, offset + len] }
      weightMap[name] = file
      offset += len
    }
    let json = JSON.stringify(header)
    json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8)
    const fd = openSync(join(tmp, file), 'w')
    try {
      const head = Buffer.alloc(8)
      head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)))
      writeSync(fd, head)
      writeSync(fd, json)
      for (const [name, shape] of tensors) {
        const n = shape.reduce((a, b) => a * b, 1)
        const isNorm = shape.length === 1
        // norms near 1, matrices uniform with scale 1/sqrt(fan-in) (the embedding and head: as a linear layer)
        const table = valueTable(dtype, isNorm ? 0.1 : 1 / Math.sqrt(shape[1]!), isNorm ? 1 : 0)
        seed = (seed ^ hash(name)) >>> 0
        for (let i = 0; i < n; i += CHUNK) {
          const m = Math.min(CHUNK, n - i)
          for (let j = 0; j < m; j++) {
            seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
            buf[j] = table[seed >>> 16]!
          }
          writeSync(fd, new Uint8Array(buf.buffer, 0, m * 2))
          done += m * 2
          o.onProgress?.(done, total)
        }
      }
    } finally { closeSync(fd) }
  })
  const index = { metadata: { total_size: total }, weight_map: weightMap }
  writeJson(join(tmp, 'model.safetensors.index.json'), index)
  if (o.tokenizerDir !== undefined) {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(o.tokenizerDir, f), join(tmp, f))
  }
  writeJson(join(tmp, 'config.json'), toHfConfig(c, dtype === 'F16' ? 'float16' : 'bfloat16'))
  mkdirSync(dirname(dir), { recursive: true })
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
}

function writeJson (path: string, v: unknown): void {
  const fd = openSync(path, 'w')
  try { writeSync(fd, JSON.stringify(v, null, 2) + '\n') } finally { closeSync(fd) }
}

function hash (s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}
