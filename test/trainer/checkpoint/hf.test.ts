import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, truncateSync, writeFileSync,
  statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadLlama2c } from '../../../trainer/checkpoint/llama2c.ts'
import { loadHfCheckpoint } from '../../../trainer/checkpoint/hf.ts'
import { loadCheckpoint } from '../../../trainer/checkpoint/load.ts'
import { exportHf } from '../../../trainer/checkpoint/export-hf.ts'
import { readWeight } from '../../../trainer/checkpoint/read-weight.ts'
import { CheckpointError } from '../../../trainer/checkpoint/errors.ts'
import { encodeSafetensors } from '../../../trainer/safetensors.ts'
import type { Tensor } from '../../../trainer/tensor.ts'
import type { LlamaCheckpoint } from '../../../trainer/model/config.ts'
import { Generator } from '../../../trainer/model/generate.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const MODEL = join(ROOT, 'assets/stories260K/stories260K.bin')
const GREEDY_REFERENCE = JSON.parse(readFileSync(join(ROOT, 'assets/stories260K/greedy_reference.json'),
  'utf8')) as { ids: number[] }
async function greedyIds (ck: LlamaCheckpoint, n: number): Promise<number[]> {
  const gen = await Generator.create(ck, { threads: 1 })
  try {
    return await gen.generate([ck.config.bosId], { maxTokens: n, temperature: 0, stopId: null })
  } finally { await gen.release() }
}
const tmp = (): string => mkdtempSync(join(tmpdir(), 'fedit-hf-'))
const oneLine = (re: RegExp) => (e: Error) => e instanceof CheckpointError && re.test(e.message) &&
  !e.message.includes('\n')

/** stories260K exported to a fresh HF folder (fp32). */
function exported (dtype: 'F32' | 'F16' | 'BF16' = 'F32'): string {
  const dir = tmp()
  exportHf(loadLlama2c(MODEL), dir, { dtype })
  return dir
}

/** Rewrites a folder's model.safetensors as two shards with an index, from float32 tensors. */
function shard (dir: string, drop?: string): void {
  const ck = loadHfCheckpoint(dir)
  const names = [...ck.weights.keys()].sort()
  const halves = [names.slice(0, 20), names.slice(20)]
  const weightMap: Record<string, string> = {}
  halves.forEach((part, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`
    const m = new Map<string, Tensor>()
    for (const n of part) {
      if (n !== drop) m.set(n, { shape: ck.weights.get(n)!.shape, data: readWeight(ck.weights.get(n)!) })
      weightMap[n] = file
    }
    writeFileSync(join(dir, file), encodeSafetensors(m, { format: 'pt' }))
  })
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }))
}

test('llama2.c -> HF fp32 -> load gives identical weights and config, by file reference only', async () => {
  const src = loadLlama2c(MODEL)
  const dir = exported('F32')
  const ck = loadCheckpoint(dir)
  assert.deepEqual(ck.config, src.config)
  assert.deepEqual(await greedyIds(ck, 256), GREEDY_REFERENCE.ids)
  assert.deepEqual([...ck.weights.keys()].sort(), [...src.weights.keys()].sort())
  for (const [name, ref] of ck.weights) {
    assert.equal(ref.source.kind, 'file')
    assert.equal(ref.dtype, 'F32')
    assert.deepEqual(ref.shape, src.weights.get(name)!.shape)
    assert.deepEqual(readWeight(ref), readWeight(src.weights.get(name)!), name)
  }
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
  assert.equal(cfg.architectures[0], 'LlamaForCausalLM')
  assert.equal(cfg.num_key_value_heads, 4)
  assert.equal(cfg.tie_word_embeddings, true)
  assert.equal(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')).eos_token_id, 2)
})

test('llama2.c -> HF fp16 / bf16 -> load is within the rounding of the format (fp16 still decodes the greedy oracle)',
  async () => {
  const src = loadLlama2c(MODEL)
  for (const [dtype, rel] of [['F16', 2 ** -11], ['BF16', 2 ** -8]] as const) {
    const ck = loadHfCheckpoint(exported(dtype))
    assert.deepEqual(ck.config, src.config)
    if (dtype === 'F16') assert.deepEqual(await greedyIds(ck, 256), GREEDY_REFERENCE.ids)
    for (const [name, ref] of ck.weights) {
      assert.equal(ref.dtype, dtype)
      const a = readWeight(ref); const b = readWeight(src.weights.get(name)!)
      for (let i = 0; i < a.length; i++) {
        // fp16 subnormals below 2^-14 have absolute, not relative, precision
        assert.ok(Math.abs(a[i]! - b[i]!) <= rel * Math.abs(b[i]!) + 2 ** -24, `${name}[${i}] ${a[i]} vs ${b[i]}`)
      }
    }
  }
})

test('a sharded folder with an index loads; a missing tensor or shard names the file', () => {
  const dir = exported()
  shard(dir)
  const ck = loadHfCheckpoint(dir)
  assert.ok(ck.weights.get('model.norm.weight')!.source.kind === 'file')
  const paths = new Set([...ck.weights.values()].map((w) => (w.source as { path: string }).path))
  assert.equal(paths.size, 2)
  assert.deepEqual(readWeight(ck.weights.get('model.layers.3.mlp.up_proj.weight')!),
    readWeight(loadLlama2c(MODEL).weights.get('model.layers.3.mlp.up_proj.weight')!))

  const d2 = exported(); shard(d2, 'model.layers.0.mlp.down_proj.weight')
  assert.throws(() => loadHfCheckpoint(d2),
    oneLine(/model-00001-of-00002\.safetensors: missing tensor model\.layers\.0\.mlp\.down_proj\.weight/))
  const d3 = exported(); shard(d3)
  truncateSync(join(d3, 'model-00002-of-00002.safetensors'),
    statSync(join(d3, 'model-00002-of-00002.safetensors')).size - 10)
  assert.throws(() => loadHfCheckpoint(d3), oneLine(/model-00002-of-00002\.safetensors: .*truncated/))
})

test('wrong shapes, unknown architectures and broken configs get one-line errors naming the file', () => {
  const dir = exported()
  const cfgFile = join(dir, 'config.json')
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'))
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, intermediate_size: 100 }))
  assert.throws(() => loadHfCheckpoint(dir),
    oneLine(/model\.safetensors: tensor model\.layers\.0\.mlp\.\w+_proj\.weight has shape \[172,64\] but config\.json implies \[100,64\]/))
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, architectures: ['MistralForCausalLM'], model_type: 'mistral' }))
  assert.throws(() => loadHfCheckpoint(dir), oneLine(/config\.json: unsupported architecture MistralForCausalLM/))
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, tie_word_embeddings: false }))
  assert.throws(() => loadHfCheckpoint(dir), oneLine(/missing tensor lm_head\.weight/))
  writeFileSync(cfgFile, '{ not json')
  assert.throws(() => loadCheckpoint(dir), oneLine(/config\.json: is not valid JSON/))
  assert.throws(() => loadCheckpoint(join(dir, 'nope')), oneLine(/no such model/))
  const empty = tmp()
  assert.throws(() => loadCheckpoint(empty), oneLine(/config\.json: cannot read/))
  writeFileSync(join(empty, 'config.json'), JSON.stringify(cfg))
  assert.throws(() => loadCheckpoint(empty), oneLine(/no model\.safetensors/))
})

test('a folder of symlinked weight files (the Hugging Face cache layout) loads and runs in place', async () => {
  const real = exported()
  const cache = tmp()
  for (const n of ['config.json', 'model.safetensors']) symlinkSync(join(real, n), join(cache, n))
  const ck = loadHfCheckpoint(cache)
  assert.equal(ck.weights.size, 47)
  assert.deepEqual(await greedyIds(ck, 24), GREEDY_REFERENCE.ids.slice(0, 24))
})

test('loadCheckpoint dispatches on .bin files and folders', () => {
  assert.equal(loadCheckpoint(MODEL).weights.get('model.embed_tokens.weight')!.source.kind, 'memory')
  const dir = exported()
  assert.equal(loadCheckpoint(join(dir, 'config.json')).origin, dir)
  mkdirSync(join(dir, 'sub'))
  copyFileSync(join(dir, 'config.json'), join(dir, 'sub', 'x.txt'))
  assert.throws(() => loadCheckpoint(join(dir, 'sub', 'x.txt')),
    oneLine(/not a llama2\.c \.bin checkpoint or a Hugging Face model folder/))
})
