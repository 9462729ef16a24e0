// A LoRA adapter as a Hugging Face PEFT folder: adapter_model.safetensors (PEFT's tensor names, float32) and
// adapter_config.json, so `PeftModel.from_pretrained(base, dir)` loads what the network trains, and the
// network can start from an adapter trained with PEFT. Loading validates everything (names, shapes, config).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LinearModule, LlamaConfig } from '../model/config.ts'
import { LINEAR_MODULES, linearShape } from '../model/config.ts'
import type { Tensor } from '../tensor.ts'
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../safetensors.ts'
import { writeFileAtomicSync } from '../atomic-write.ts'
import type { Adapter, LoraConfig } from './adapter.ts'
import { AdapterError } from './errors.ts'

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors'
export const ADAPTER_CONFIG = 'adapter_config.json'

export interface SaveAdapterOptions {
  /** base_model_name_or_path: the model path or hub id the adapter belongs to */
  readonly baseModel: string
}

/** Writes the two files atomically (weights first, so a config never points at missing weights). */
export function saveAdapter (dir: string, adapter: Adapter, opts: SaveAdapterOptions): void {
  checkTensors(adapter.tensors, adapter.config, join(dir, ADAPTER_WEIGHTS))
  writeFileAtomicSync(join(dir, ADAPTER_WEIGHTS), encodeSafetensors(adapter.tensors, { format: 'pt' }))
  writeFileAtomicSync(join(dir, ADAPTER_CONFIG), JSON.stringify(peftConfig(adapter.config, opts.baseModel), null, 2) +
    '\n')
}

export function peftConfig (c: LoraConfig, baseModel: string): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: c.r,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    target_modules: [...c.targetModules],
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    use_rslora: false,
    use_dora: false
  }
}

export interface LoadedAdapter extends Adapter {
  readonly baseModel: string
}

/** Reads and validates a PEFT folder; with `model`, also checks layer count and shapes against it. */
export function loadAdapter (dir: string, model?: LlamaConfig): LoadedAdapter {
  const cfgFile = join(dir, ADAPTER_CONFIG)
  const { config, baseModel } = parsePeftConfig(readJson(cfgFile), cfgFile)
  const file = join(dir, ADAPTER_WEIGHTS)
  let bytes: Uint8Array
  try { bytes = readFileSync(file) } catch { throw new AdapterError(`${file}: cannot read the adapter weights`) }
  let tensors: Map<string, Tensor>
  try { tensors = decodeSafetensors(bytes).tensors } catch (err) {
    if (err instanceof SafetensorsError) throw new AdapterError(`${file}: ${err.message}`)
    throw err
  }
  checkTensors(tensors, config, file, model)
  return { config, tensors, baseModel }
}

export function parsePeftConfig (json: unknown, file: string): { config: LoraConfig, baseModel: string } {
  const fail = (what: string): never => { throw new AdapterError(`${file}: ${what}`) }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('is not a JSON object')
  const j = json as Record<string, unknown>
  if (j.peft_type !== 'LORA') fail(`peft_type ${JSON.stringify(j.peft_type)} is not LORA`)
  if (j.task_type !== undefined && j.task_type !== null && j.task_type !== 'CAUSAL_LM') {
    fail(`task_type ${JSON.stringify(j.task_type)} is not CAUSAL_LM`)
  }
  const r = j.r
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1) {
    fail(`r must be a positive integer, got ${JSON.stringify(r)}`)
  }
  const alpha = j.lora_alpha ?? 8 // PEFT's default
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) {
    fail(`lora_alpha must be a positive number, got ${JSON.stringify(j.lora_alpha)}`)
  }
  const dropout = j.lora_dropout ?? 0
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    fail(`lora_dropout must be in [0, 1), got ${JSON.stringify(j.lora_dropout)}`)
  }
  const tm = j.target_modules
  if (!Array.isArray(tm) || tm.length === 0) fail('target_modules must be a non-empty list of module names')
  const targets = (tm as unknown[]).map(String)
  for (const t of targets) {
    if (!(LINEAR_MODULES as readonly string[]).includes(t)) {
      fail(`target module ${JSON.stringify(t)} is not one of ${LINEAR_MODULES.join(', ')}`)
    }
  }
  if (j.bias !== undefined && j.bias !== 'none') fail(`bias ${JSON.stringify(j.bias)} is not supported (only "none")`)
  if (j.fan_in_fan_out === true) fail('fan_in_fan_out is not supported for LLaMA')
  if (j.use_rslora === true) fail('use_rslora is not supported (its scale is alpha/sqrt(r))')
  if (j.use_dora === true) fail('use_dora is not supported')
  if (j.modules_to_save !== undefined && j.modules_to_save !== null &&
    !(Array.isArray(j.modules_to_save) && j.modules_to_save.length === 0)) {
    fail('modules_to_save is not supported')
  }
  const ordered = LINEAR_MODULES.filter((m) => targets.includes(m))
  return { config: { r: r as number, alpha: alpha as number, dropout: dropout as number, targetModules: ordered },
    baseModel: typeof j.base_model_name_or_path === 'string' ? j.base_model_name_or_path : '' }
}

const NAME = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.lora_(A|B)\.weight$/

/** Every tensor has a PEFT LLaMA name of a target module, comes in A/B pairs, and has consistent shapes. */
function checkTensors (tensors: ReadonlyMap<string, Tensor>, c: LoraConfig, file: string, model?: LlamaConfig): void {
  const fail = (what: string): never => { throw new AdapterError(`${file}: ${what}`) }
  if (tensors.size === 0) fail('holds no LoRA tensors')
  const pairs = new Map<string, { A?: Tensor, B?: Tensor, layer: number, module: LinearModule }>()
  for (const [name, t] of tensors) {
    const m = NAME.exec(name)
    if (m === null) fail(`unexpected tensor ${name} (not a PEFT LoRA weight of a LLaMA linear layer)`)
    const [, layerText, block, module, part] = m as RegExpExecArray
    const mod = module as LinearModule
    if ((block === 'mlp') !== (mod === 'gate_proj' || mod === 'up_proj' || mod === 'down_proj')) {
      fail(`unexpected tensor ${name}`)
    }
    if (!c.targetModules.includes(mod)) fail(`tensor ${name} is for ${mod}, which is not in target_modules`)
    const layer = Number(layerText)
    if (model !== undefined && layer >= model.nLayers) {
      fail(`tensor ${name} is for layer ${layer} but the model has ${model.nLayers} layers (0-${model.nLayers - 1})`)
    }
    if (t.shape.length !== 2 || t.data.length !== t.shape[0]! * t.shape[1]!) fail(`tensor ${name} is not a matrix`)
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) fail(`tensor ${name} has a non-finite value`)
    }
    const key = `${layer}.${mod}`
    const p = pairs.get(key) ?? { layer, module: mod }
    p[part as 'A' | 'B'] = t
    pairs.set(key, p)
  }
  for (const p of pairs.values()) {
    if (p.A === undefined || p.B === undefined) {
      fail(`layer ${p.layer} ${p.module} has lora_${p.A === undefined ? 'A' : 'B'} missing`)
    }
    if (p.A!.shape[0] !== c.r || p.B!.shape[1] !== c.r) {
      fail(`layer ${p.layer} ${p.module}: rank of A [${p.A!.shape.join(',')}] / B [${p.B!.shape.join(',')}] is not ` +
        `r=${c.r}`)
    }
    if (model !== undefined) {
      const [out, inp] = linearShape(model, p.module)
      if (p.A!.shape[1] !== inp || p.B!.shape[0] !== out) {
        fail(`layer ${p.layer} ${p.module}: A [${p.A!.shape.join(',')}] / B [${p.B!.shape.join(',')}] do not fit the ` +
          `model's [${out},${inp}] weight`)
      }
    }
  }
}

function readJson (file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch { throw new AdapterError(`${file}: cannot read it (is this a PEFT adapter folder?)`) }
  try { return JSON.parse(text) } catch { throw new AdapterError(`${file}: is not valid JSON`) }
}
