import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadLlama2c } from '../../../trainer/checkpoint/llama2c.ts'
import { readWeight } from '../../../trainer/checkpoint/read-weight.ts'
import { DEFAULT_LORA, loraName } from '../../../trainer/lora/adapter.ts'
import type { Adapter } from '../../../trainer/lora/adapter.ts'
import { initAdapter } from '../../../trainer/lora/init.ts'
import { loadAdapter, saveAdapter } from '../../../trainer/lora/peft-folder.ts'
import { mergeAdapter } from '../../../trainer/lora/merge.ts'
import { AdapterError } from '../../../trainer/lora/errors.ts'
import { encodeSafetensors } from '../../../trainer/safetensors.ts'
import { createRng } from '../../../trainer/rng.ts'

const MODEL = fileURLToPath(new URL('../../../assets/stories260K/stories260K.bin', import.meta.url))
const ck = loadLlama2c(MODEL)
const tmp = (): string => mkdtempSync(join(tmpdir(), 'fedit-lora-'))
const oneLine = (re: RegExp) => (e: Error) => e instanceof AdapterError && re.test(e.message) &&
  !e.message.includes('\n')

/** The adapter with B filled with seeded noise, so it changes the model. */
function trained (seed: number): Adapter {
  const a = initAdapter(ck.config, DEFAULT_LORA, seed)
  const rng = createRng(seed + 1)
  for (const [name, t] of a.tensors) {
    if (name.includes('lora_B')) for (let i = 0; i < t.data.length; i++) t.data[i] = rng.next() - 0.5
  }
  return a
}

test('initAdapter: PEFT names and shapes, Kaiming-uniform A, zero B, deterministic in the seed', () => {
  const a = initAdapter(ck.config, DEFAULT_LORA, 7)
  assert.equal(a.tensors.size, 5 * 7 * 2)
  assert.deepEqual(a.tensors.get('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight')!.shape, [8, 64])
  assert.deepEqual(a.tensors.get('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight')!.shape, [32, 8])
  assert.deepEqual(a.tensors.get(loraName(4, 'down_proj', 'A'))!.shape, [8, 172])
  const down = a.tensors.get(loraName(4, 'down_proj', 'A'))!.data
  const bound = 1 / Math.sqrt(172)
  assert.ok(down.every((x) => Math.abs(x) <= bound) && Math.max(...down.map(Math.abs)) > 0.9 * bound)
  for (const [name, t] of a.tensors) if (name.includes('lora_B')) assert.ok(t.data.every((x) => x === 0))
  const again = initAdapter(ck.config, DEFAULT_LORA, 7)
  for (const [name, t] of a.tensors) assert.deepEqual(again.tensors.get(name)!.data, t.data)
  assert.notDeepEqual(initAdapter(ck.config, DEFAULT_LORA, 8).tensors.get(loraName(0, 'q_proj', 'A'))!.data,
    a.tensors.get(loraName(0, 'q_proj', 'A'))!.data)
  const qv = initAdapter(ck.config, { ...DEFAULT_LORA, targetModules: ['q_proj', 'v_proj'] }, 7)
  assert.equal(qv.tensors.size, 5 * 2 * 2)
  assert.deepEqual(qv.tensors.get(loraName(2, 'v_proj', 'A'))!.data, a.tensors.get(loraName(2, 'v_proj', 'A'))!.data)
})

test('a fresh adapter is a no-op: merging it leaves every weight unchanged', () => {
  const merged = mergeAdapter(ck, initAdapter(ck.config, DEFAULT_LORA, 1))
  for (const [name, ref] of ck.weights) assert.deepEqual(readWeight(merged.weights.get(name)!), readWeight(ref), name)
})

test('merge adds (alpha/r)·B·A to exactly the adapted weights', () => {
  const adapter = trained(3)
  const merged = mergeAdapter(ck, adapter)
  const name = 'model.layers.1.self_attn.k_proj.weight'
  const w = readWeight(ck.weights.get(name)!)
  const a = adapter.tensors.get(loraName(1, 'k_proj', 'A'))!.data
  const b = adapter.tensors.get(loraName(1, 'k_proj', 'B'))!.data
  const got = readWeight(merged.weights.get(name)!)
  for (const [o, i] of [[0, 0], [31, 63], [7, 20]] as const) {
    let d = 0
    for (let k = 0; k < 8; k++) d += b[o * 8 + k]! * a[k * 64 + i]!
    assert.ok(Math.abs(got[o * 64 + i]! - (w[o * 64 + i]! + 2 * d)) < 1e-5)
  }
  assert.equal(readWeight(merged.weights.get('model.norm.weight')!), readWeight(ck.weights.get('model.norm.weight')!))
  assert.deepEqual(readWeight(ck.weights.get(name)!), w) // the base checkpoint is untouched
})

test('saveAdapter/loadAdapter round-trip a PEFT folder exactly', () => {
  const dir = tmp()
  const adapter = trained(5)
  saveAdapter(dir, adapter, { baseModel: 'stories260K' })
  const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'))
  assert.equal(cfg.peft_type, 'LORA'); assert.equal(cfg.task_type, 'CAUSAL_LM'); assert.equal(cfg.r, 8);
    assert.equal(cfg.lora_alpha, 16)
  assert.equal(cfg.bias, 'none'); assert.equal(cfg.fan_in_fan_out, false); assert.equal(cfg.inference_mode, true)
  assert.equal(cfg.base_model_name_or_path, 'stories260K')
  assert.deepEqual(cfg.target_modules, DEFAULT_LORA.targetModules)
  const back = loadAdapter(dir, ck.config)
  assert.deepEqual(back.config, DEFAULT_LORA)
  assert.equal(back.baseModel, 'stories260K')
  assert.equal(back.tensors.size, adapter.tensors.size)
  for (const [name, t] of adapter.tensors) assert.deepEqual(back.tensors.get(name)!.data, t.data)
})

test('broken adapter folders get one-line errors naming the file', () => {
  const dir = tmp()
  saveAdapter(dir, trained(5), { baseModel: 'm' })
  const cfgFile = join(dir, 'adapter_config.json')
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'))
  const withCfg = (patch: Record<string, unknown>): void => writeFileSync(cfgFile, JSON.stringify({ ...cfg, ...patch }))
  withCfg({ peft_type: 'IA3' }); assert.throws(() => loadAdapter(dir),
    oneLine(/adapter_config\.json: peft_type "IA3" is not LORA/))
  withCfg({ r: 4 }); assert.throws(() => loadAdapter(dir), oneLine(/rank .* is not r=4/))
  withCfg({ target_modules: ['q_proj'] }); assert.throws(() => loadAdapter(dir),
    oneLine(/which is not in target_modules/))
  withCfg({ target_modules: ['q_proj', 'lm_head'] });
    assert.throws(() => loadAdapter(dir), oneLine(/"lm_head" is not one of/))
  withCfg({ use_rslora: true }); assert.throws(() => loadAdapter(dir), oneLine(/use_rslora/))
  withCfg({})
  assert.throws(() => loadAdapter(dir, { ...ck.config, nLayers: 2 }), oneLine(/layer [2-4] but the model has 2 layers \(0-1\)$/))
  const weights = join(dir, 'adapter_model.safetensors')
  const bytes = readFileSync(weights)
  writeFileSync(weights, bytes.subarray(0, bytes.length - 16))
  assert.throws(() => loadAdapter(dir), oneLine(/adapter_model\.safetensors: .*truncated/))
  const onlyA = new Map([[loraName(0, 'q_proj', 'A'), { shape: [8, 64], data: new Float32Array(512) }]])
  writeFileSync(weights, encodeSafetensors(onlyA))
  assert.throws(() => loadAdapter(dir), oneLine(/layer 0 q_proj has lora_B missing/))
  writeFileSync(weights, encodeSafetensors(new Map([['model.layers.0.foo',
    { shape: [1, 1], data: new Float32Array(1) }]])))
  assert.throws(() => loadAdapter(dir), oneLine(/unexpected tensor model\.layers\.0\.foo/))
  assert.throws(() => loadAdapter(join(dir, 'none')), oneLine(/cannot read/))
})
