// A Hugging Face LLaMA folder: config.json plus model.safetensors, or shards named by
// model.safetensors.index.json. Only the safetensors headers are read: every weight becomes a WeightRef
// pointing at its bytes in the file (absolute offset), so the graph builder can hand them to ONNX Runtime as
// external data and a 7B model never passes through JS memory.
// Symlinked weight files (a Hugging Face cache snapshot) are fine: the graph builder resolves them (see
// trainer/graph/weights.ts, which also has stageWeightFiles, the hardlink/copy fallback).
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { LlamaCheckpoint, WeightDtype, WeightRef } from '../model/config.ts'
import type { SafetensorsHeader } from '../safetensors.ts'
import { MAX_HEADER_BYTES, parseSafetensorsHeader, SafetensorsError } from '../safetensors.ts'
import { CheckpointError } from './errors.ts'
import { parseHfConfig } from './hf-config.ts'
import { expectedWeightShapes } from './weight-shapes.ts'

const INDEX = 'model.safetensors.index.json'
const SINGLE = 'model.safetensors'

export function loadHfCheckpoint (dir: string): LlamaCheckpoint {
  const configFile = join(dir, 'config.json')
  const config = parseHfConfig(readJson(configFile), configFile)
  const files = weightFiles(dir)

  // name -> (file, header entry); a name in two shards is ambiguous
  const found = new Map<string, {
    file: string, dtype: string, shape: readonly number[], offset: number, byteLength: number
  }>()
  for (const file of files) {
    for (const e of readSafetensorsHeaderFile(file).entries) {
      const prev = found.get(e.name)
      if (prev !== undefined) throw new CheckpointError(`${file}: tensor ${e.name} is also in ${prev.file}`)
      found.set(e.name, { file, ...e })
    }
  }
  const index = indexMap(dir)
  const weights = new Map<string, WeightRef>()
  for (const [name, shape] of expectedWeightShapes(config)) {
    const f = found.get(name)
    if (f === undefined) {
      throw new CheckpointError(`${index !== undefined ? join(dir, index.get(name) ?? INDEX) : join(dir, SINGLE)}: ` +
        `missing tensor ${name}`)
    }
    if (index !== undefined && index.get(name) !== basename(f.file)) {
      throw new CheckpointError(`${join(dir, INDEX)}: maps ${name} to ${index.get(name) ?? 'nothing'} but it is ` +
        `in ${basename(f.file)}`)
    }
    if (f.dtype !== 'F32' && f.dtype !== 'F16' && f.dtype !== 'BF16') {
      throw new CheckpointError(`${f.file}: tensor ${name} has dtype ${f.dtype} (only F32, F16, BF16 are supported)`)
    }
    if (f.shape.length !== shape.length || f.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(`${f.file}: tensor ${name} has shape [${f.shape.join(',')}] but config.json implies ` +
        `[${shape.join(',')}]`)
    }
    weights.set(name, { shape, dtype: f.dtype as WeightDtype,
      source: { kind: 'file', path: f.file, offset: f.offset, byteLength: f.byteLength } })
  }
  return { config, weights, origin: dir }
}

/** The safetensors files of a folder: the index's shards, model.safetensors, or else every *.safetensors. */
export function weightFiles (dir: string): string[] {
  const index = indexMap(dir)
  let names: string[]
  if (index !== undefined) {
    names = [...new Set(index.values())].sort()
  } else if (existsSync(join(dir, SINGLE))) {
    names = [SINGLE]
  } else {
    let all: string[]
    try { all = readdirSync(dir) } catch { throw new CheckpointError(`${dir}: cannot read the model folder`) }
    names = all.filter((n) => n.endsWith('.safetensors')).sort()
    if (names.length === 0) {
      const other = all.find((n) => n.endsWith('.bin') || n.endsWith('.pth') || n.endsWith('.gguf'))
      throw new CheckpointError(`${dir}: no ${SINGLE} or *.safetensors ` +
        `weights${other !== undefined ? ` (found ${other}; only safetensors is supported)` : ''}`)
    }
  }
  for (const n of names) {
    if (!existsSync(join(dir, n))) {
      throw new CheckpointError(`${join(dir, n)}: weight file named by ${INDEX} is missing`)
    }
  }
  return names.map((n) => join(dir, n))
}

/** model.safetensors.index.json's weight_map, or undefined when the folder has no index. */
function indexMap (dir: string): Map<string, string> | undefined {
  const file = join(dir, INDEX)
  if (!existsSync(file)) return undefined
  const j = readJson(file) as { weight_map?: unknown }
  if (typeof j !== 'object' || j === null || typeof j.weight_map !== 'object' || j.weight_map === null) {
    throw new CheckpointError(`${file}: has no weight_map object`)
  }
  const map = new Map<string, string>()
  for (const [name, shard] of Object.entries(j.weight_map as Record<string, unknown>)) {
    // shard names are plain file names in the same folder
    if (typeof shard !== 'string' || shard === '' || shard.includes('/') || shard.includes('\\') ||
      shard.startsWith('.')) {
      throw new CheckpointError(`${file}: bad shard name ${JSON.stringify(shard)} for ${name}`)
    }
    map.set(name, shard)
  }
  return map
}

/** Reads and validates only the header of a safetensors file (entries' offsets are absolute in the file). */
export function readSafetensorsHeaderFile (file: string): SafetensorsHeader {
  let fd: number
  try { fd = openSync(file, 'r') } catch { throw new CheckpointError(`${file}: cannot open the weight file`) }
  try {
    const size = statSync(file).size
    if (size < 8) throw new CheckpointError(`${file}: ${size} bytes is too short for a safetensors file (truncated?)`)
    const len8 = Buffer.alloc(8)
    readSync(fd, len8, 0, 8, 0)
    const headerLen = Number(len8.readBigUInt64LE(0))
    if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
      throw new CheckpointError(`${file}: safetensors header length ${headerLen} does not fit the ${size}-byte file ` +
        `(truncated or not safetensors)`)
    }
    const prefix = Buffer.alloc(8 + headerLen)
    readSync(fd, prefix, 0, prefix.length, 0)
    return parseSafetensorsHeader(prefix, size)
  } catch (err) {
    if (err instanceof SafetensorsError) throw new CheckpointError(`${file}: ${err.message}`)
    throw err
  } finally {
    closeSync(fd)
  }
}

function readJson (file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch { throw new CheckpointError(`${file}: cannot read it (is this a Hugging Face model folder?)`) }
  try { return JSON.parse(text) } catch { throw new CheckpointError(`${file}: is not valid JSON`) }
}
