// One entry point for every checkpoint kind: a llama2.c `.bin` file or a Hugging Face folder.
import { statSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { CheckpointLayout, LlamaCheckpoint } from '../model/config.ts'
import { CheckpointError } from './errors.ts'
import { loadHfCheckpoint } from './hf.ts'
import { llama2cLayout, loadLlama2c } from './llama2c.ts'

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

/**
 * The checkpoint's config and weight shapes without its weights: a llama2.c file's header alone (its weights are
 * read into memory by loadCheckpoint); a Hugging Face folder's headers, as loadCheckpoint reads them anyway.
 */
export function loadCheckpointLayout (path: string): CheckpointLayout {
  let isDir = false
  try { isDir = statSync(path).isDirectory() } catch { /* loadCheckpoint names the problem */ }
  return !isDir && path.endsWith('.bin') ? llama2cLayout(path) : loadCheckpoint(path)
}
