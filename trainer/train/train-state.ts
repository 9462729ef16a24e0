// A training checkpoint as ONE safetensors file (adapter + AdamW moments + step and settings in its metadata),
// written atomically: an interruption at any moment leaves the previous checkpoint or the new one, never a
// mix of two steps. The data position needs no storing: it is a function of the step (step-plan.ts).
import { readFileSync } from 'node:fs'
import type { Tensor } from '../tensor.ts'
import type { LoraConfig } from '../lora/adapter.ts'
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../safetensors.ts'
import { writeFileAtomicSync } from '../atomic-write.ts'
import type { TrainState } from './train-loop.ts'

export const TRAIN_STATE_FILE = 'train-state.safetensors'
const FORMAT = 'fedit-train-state/1'

export class TrainStateError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'TrainStateError'
  }
}

/** `settings`: whatever must match for a resume to be exact (recipe, LoRA config, data); compared on load. */
export function saveTrainState (file: string, s: TrainState, settings: Record<string, unknown>): void {
  const tensors = new Map<string, Tensor>()
  for (const [k, t] of s.adapter.tensors) {
    tensors.set(`adapter/${k}`, t)
    const m = s.adam.m.get(k); const v = s.adam.v.get(k)
    if (m !== undefined && v !== undefined) {
      tensors.set(`adam.m/${k}`, { shape: t.shape, data: m })
      tensors.set(`adam.v/${k}`, { shape: t.shape, data: v })
    }
  }
  writeFileAtomicSync(file, encodeSafetensors(tensors, {
    format: FORMAT,
    step: String(s.step),
    adamStep: String(s.adam.step),
    lora: JSON.stringify(s.adapter.config),
    settings: JSON.stringify(settings)
  }))
}

export function loadTrainState (file: string): { state: TrainState, settings: Record<string, unknown> } {
  let bytes: Uint8Array
  try { bytes = readFileSync(file) } catch { throw new TrainStateError(`${file}: cannot read the training checkpoint`) }
  let decoded: ReturnType<typeof decodeSafetensors>
  try { decoded = decodeSafetensors(bytes) } catch (err) {
    if (err instanceof SafetensorsError) throw new TrainStateError(`${file}: ${err.message}`)
    throw err
  }
  const md = decoded.metadata
  if (md.format !== FORMAT) {
    throw new TrainStateError(`${file}: not a fedit training checkpoint (format ${JSON.stringify(md.format)})`)
  }
  const step = Number(md.step); const adamStep = Number(md.adamStep)
  if (!Number.isSafeInteger(step) || step < 0 || !Number.isSafeInteger(adamStep) || adamStep < 0) {
    throw new TrainStateError(`${file}: bad step in its metadata`)
  }
  let config: LoraConfig; let settings: Record<string, unknown>
  try {
    config = JSON.parse(md.lora!) as LoraConfig
    settings = JSON.parse(md.settings!) as Record<string, unknown>
  } catch { throw new TrainStateError(`${file}: unreadable metadata`) }
  const tensors = new Map<string, Tensor>()
  const m = new Map<string, Float32Array>(); const v = new Map<string, Float32Array>()
  for (const [name, t] of decoded.tensors) {
    const slash = name.indexOf('/')
    const kind = name.slice(0, slash); const key = name.slice(slash + 1)
    if (kind === 'adapter') tensors.set(key, t)
    else if (kind === 'adam.m') m.set(key, t.data)
    else if (kind === 'adam.v') v.set(key, t.data)
    else throw new TrainStateError(`${file}: unexpected tensor ${name}`)
  }
  if (tensors.size === 0) throw new TrainStateError(`${file}: holds no adapter`)
  return { state: { step, adapter: { config, tensors }, adam: { step: adamStep, m, v } }, settings }
}

/** The first setting that differs, as "key: saved vs now", or undefined when all match. */
export function settingsMismatch (saved: Record<string, unknown>, now: Record<string, unknown>): string | undefined {
  for (const k of new Set([...Object.keys(saved), ...Object.keys(now)])) {
    const a = JSON.stringify(saved[k]); const b = JSON.stringify(now[k])
    if (a !== b) return `${k}: ${a ?? 'unset'} in the checkpoint, ${b ?? 'unset'} now`
  }
  return undefined
}
