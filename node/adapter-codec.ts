// Adapters on the wire and on disk: canonical safetensors bytes (F32, names sorted, no metadata), so the
// sha256 of the bytes names the adapter. Decoding trusts nothing: every tensor must be one the job
// expects (names and shapes from the job's base adapter), in F32, with finite values, under a size cap.
import { createHash } from 'node:crypto'
import type { Adapter, LoraConfig } from '../trainer/lora/adapter.ts'
import type { Tensor } from '../trainer/tensor.ts'
import { encodeSafetensors, parseSafetensorsHeader, toFloat32 } from '../trainer/safetensors.ts'
import { RejectReason as R, withDetail } from '../protocol/reject-reason.ts'

/** The names and shapes every adapter of a job has (taken from the job's round-0 adapter). */
export interface AdapterLayout {
  readonly config: LoraConfig
  readonly shapes: ReadonlyMap<string, readonly number[]>
  /** exact byte size of an adapter of this layout */
  readonly byteLength: number
}

export type DecodedAdapter =
  | { readonly ok: true, readonly adapter: Adapter }
  | { readonly ok: false, readonly reason: string }
const no = (reason: R, detail: string): DecodedAdapter => ({ ok: false, reason: withDetail(reason, detail) })

export function encodeAdapter (adapter: Adapter): Uint8Array {
  return encodeSafetensors(adapter.tensors, {}, 'F32')
}

export function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function layoutOf (adapter: Adapter): AdapterLayout {
  return {
    config: adapter.config,
    shapes: new Map([...adapter.tensors].map(([n, t]) => [n, [...t.shape]])),
    byteLength: encodeAdapter(adapter).byteLength
  }
}

export function decodeAdapter (bytes: Uint8Array, layout: AdapterLayout, maxBytes: number): DecodedAdapter {
  if (bytes.byteLength > maxBytes) return no(R.Oversized, `${bytes.byteLength} > ${maxBytes} bytes`)
  let header
  try {
    header = parseSafetensorsHeader(bytes, bytes.byteLength)
  } catch (err) {
    return no(R.Corrupt, (err as Error).message)
  }
  if (header.entries.length !== layout.shapes.size) {
    return no(R.BadTensors, `${header.entries.length} tensors, expected ${layout.shapes.size}`)
  }
  const tensors = new Map<string, Tensor>()
  for (const e of header.entries) {
    const want = layout.shapes.get(e.name)
    if (want === undefined) return no(R.BadTensors, `unexpected tensor ${e.name.slice(0, 80)}`)
    if (e.dtype !== 'F32') return no(R.BadTensors, `${e.name} is ${e.dtype}, expected F32`)
    if (e.shape.length !== want.length || e.shape.some((d, i) => d !== want[i])) {
      return no(R.BadTensors, `${e.name} has shape [${e.shape.join(',')}], expected [${want.join(',')}]`)
    }
    const data = toFloat32(bytes.subarray(e.offset, e.offset + e.byteLength), 'F32')
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return no(R.NonFinite, `${e.name}[${i}]`)
    tensors.set(e.name, { shape: [...e.shape], data })
  }
  return { ok: true, adapter: { config: layout.config, tensors } }
}

/** The adapter_config.json PEFT expects beside adapter_model.safetensors. */
export function peftConfigJson (config: LoraConfig, baseModelId: string): string {
  return JSON.stringify({
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModelId,
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    target_modules: [...config.targetModules],
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true
  }, null, 2) + '\n'
}
