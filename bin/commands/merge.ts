// fedit merge: fold a LoRA adapter into the base weights and write a Hugging Face model folder.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { CliError } from '../cli-error.ts'
import { prepareOutputDir } from '../output-dir.ts'
import { parseFlags } from '../flags.ts'
import { choiceFlag, required } from '../flag-values.ts'
import { loadCheckpoint } from '../../trainer/checkpoint/load.ts'
import { exportHf } from '../../trainer/checkpoint/export-hf.ts'
import { loadTokenizerFor } from '../../trainer/tokenizer.ts'
import { loadAdapter } from '../../trainer/lora/peft-folder.ts'
import { mergeAdapter } from '../../trainer/lora/merge.ts'

export const help = `usage: fedit merge --model PATH --adapter DIR --out DIR [--dtype f32|f16|bf16] [--force]

Writes base + (alpha/r)·B·A as a Hugging Face LLaMA folder (config.json, model.safetensors, tokenizer),
loadable by transformers and by every fedit command.
  --dtype    storage type of model.safetensors (default f32)
  --force    overwrite a model already in DIR`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['model', 'adapter', 'out', 'dtype'], booleans: ['force'] })
  const modelPath = required(f, 'model', 'PATH')
  const adapterDir = required(f, 'adapter', 'DIR')
  const out = required(f, 'out', 'DIR')
  const dtype = ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[choiceFlag(f, 'dtype',
    ['f32', 'f16', 'bf16'] as const, 'f32')]
  if (existsSync(join(out, 'config.json')) && !f.booleans.has('force')) {
    throw new CliError(`${out} already holds a model (config.json); use --force to overwrite it`)
  }
  prepareOutputDir(out)
  const ckpt = loadCheckpoint(modelPath)
  const tok = loadTokenizerFor(modelPath, ckpt.config.vocabSize)
  const adapter = loadAdapter(adapterDir, ckpt.config)
  exportHf(mergeAdapter(ckpt, adapter), out, { dtype, tokenizer: { json: tok.json, config: tok.config } })
  console.log(`merged ${adapterDir} into ${modelPath}: ${out} (${dtype})`)
  return 0
}
