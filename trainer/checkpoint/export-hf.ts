// Writes a LlamaCheckpoint as a Hugging Face folder transformers can load: config.json,
// generation_config.json, model.safetensors (fp32, fp16 or bf16) and optionally the tokenizer files.
// Each file is written to a temporary name and renamed; config.json goes last, so an interrupted export into
// a fresh folder leaves no config.json and cannot be mistaken for a complete model. The safetensors file is
// streamed one tensor at a time, so exporting never holds more than one weight in memory.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { LlamaCheckpoint } from '../model/config.ts'
import { float32ToBfloat16, float32ToFloat16 } from '../safetensors.ts'
import { numel } from '../tensor.ts'
import { writeFileAtomicSync } from '../atomic-write.ts'
import { CheckpointError } from './errors.ts'
import { toHfConfig } from './hf-config.ts'
import { readWeight } from './read-weight.ts'
import { expectedWeightShapes } from './weight-shapes.ts'

export type ExportDtype = 'F32' | 'F16' | 'BF16'

export interface ExportHfOptions {
  /** storage type of model.safetensors (default F32) */
  readonly dtype?: ExportDtype
  /** tokenizer.json and tokenizer_config.json contents (objects), written when given */
  readonly tokenizer?: { readonly json: unknown, readonly config?: unknown }
}

const TORCH_DTYPE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const
const WIDTH = { F32: 4, F16: 2, BF16: 2 } as const

export function exportHf (ck: LlamaCheckpoint, dir: string, opts: ExportHfOptions = {}): void {
  const dtype = opts.dtype ?? 'F32'
  mkdirSync(dir, { recursive: true })
  const shapes = expectedWeightShapes(ck.config)
  for (const [name, shape] of shapes) {
    const w = ck.weights.get(name)
    if (w === undefined) throw new CheckpointError(`${ck.origin}: missing tensor ${name}`)
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(`${ck.origin}: tensor ${name} has shape [${w.shape.join(',')}], config implies ` +
        `[${shape.join(',')}]`)
    }
  }
  writeSafetensorsFile(join(dir, 'model.safetensors'), [...shapes.keys()].sort(), ck, dtype)
  rmSync(join(dir, 'model.safetensors.index.json'), { force: true }) // a stale index would shadow the new file
  if (opts.tokenizer !== undefined) {
    writeFileAtomicSync(join(dir, 'tokenizer.json'), JSON.stringify(opts.tokenizer.json))
    if (opts.tokenizer.config !== undefined) {
      writeFileAtomicSync(join(dir, 'tokenizer_config.json'), JSON.stringify(opts.tokenizer.config, null, 2) + '\n')
    }
  }
  const c = ck.config
  writeFileAtomicSync(join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: c.bosId, eos_token_id: c.eosId, _from_model_config: true }, null, 2) + '\n')
  writeFileAtomicSync(join(dir, 'config.json'), JSON.stringify(toHfConfig(c, TORCH_DTYPE[dtype]), null, 2) + '\n')
}

function writeSafetensorsFile (path: string, names: readonly string[], ck: LlamaCheckpoint, dtype: ExportDtype): void {
  const width = WIDTH[dtype]
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } } // transformers requires format=pt
  let offset = 0
  for (const name of names) {
    const shape = ck.weights.get(name)!.shape
    const len = numel(shape) * width
    header[name] = { dtype, shape, data_offsets: [offset, offset + len] }
    offset += len
  }
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8) // 8-byte aligned data, as the reference writer
  const prefix = Buffer.alloc(8 + Buffer.byteLength(json))
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0)
  prefix.write(json, 8, 'utf8')

  const tmp = `${path}.${process.pid}.tmp`
  const fd = openSync(tmp, 'w')
  try {
    writeAll(fd, prefix)
    for (const name of names) writeAll(fd, encodeValues(readWeight(ck.weights.get(name)!), dtype))
    fsyncSync(fd)
    closeSync(fd)
    renameSync(tmp, path)
  } catch (err) {
    try { closeSync(fd) } catch { /* already closed */ }
    rmSync(tmp, { force: true })
    throw err
  }
}

function encodeValues (v: Float32Array, dtype: ExportDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
  const h = new Uint16Array(v.length)
  const conv = dtype === 'F16' ? float32ToFloat16 : float32ToBfloat16
  for (let i = 0; i < v.length; i++) h[i] = conv(v[i]!)
  return new Uint8Array(h.buffer)
}

function writeAll (fd: number, bytes: Uint8Array): void {
  let done = 0
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done)
}
