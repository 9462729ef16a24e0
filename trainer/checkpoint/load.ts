// One entry point for every checkpoint kind: a llama2.c `.bin` file or a Hugging Face folder.
import { statSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { LlamaCheckpoint } from '../model/config.ts'
import { CheckpointError } from './errors.ts'
import { loadHfCheckpoint } from './hf.ts'
import { loadLlama2c } from './llama2c.ts'

export function loadCheckpoint (path: string): LlamaCheckpoint {
  let isDir: boolean
  try {
    isDir = statSync(path).isDirectory()
  } catch { throw new CheckpointError(`${path}: no such model file or folder`) }
  if (isDir) return loadHfCheckpoint(path)
  if (path.endsWith('.bin')) return loadLlama2c(path)
  // a file inside a HF folder (config.json, model.safetensors) names the folder
  if (basename(path) === 'config.json' || path.endsWith('.safetensors')) return loadHfCheckpoint(dirname(path))
  throw new CheckpointError(`${path}: not a llama2.c .bin checkpoint or a Hugging Face model folder`)
}
