// A Hugging Face LLaMA folder: config.json plus model.safetensors, or shards named by
// model.safetensors.index.json. Only the safetensors headers are read: every weight becomes a WeightRef
// pointing at its bytes in the file (absolute offset), so the graph builder can hand them to ONNX Runtime as
// external data and a 7B model never passes through JS memory.
// ONNX Runtime refuses external-data files that are symlinks (as in a Hugging Face cache snapshot), so
// symlinked weight files are an error by default; materializeWeightFiles() makes a plain copy of the folder.
import { closeSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { LlamaCheckpoint, WeightDtype, WeightRef } from '../model/config.ts'
import type { SafetensorsHeader } from '../safetensors.ts'
import { MAX_HEADER_BYTES, parseSafetensorsHeader, SafetensorsError } from '../safetensors.ts'
import { CheckpointError } from './errors.ts'
import { parseHfConfig } from './hf-config.ts'
import { expectedWeightShapes } from './weight-shapes.ts'

export interface HfLoadOptions {
  /** accept symlinked weight files (fine for readWeight, but ONNX Runtime will refuse them as external data) */
  readonly allowSymlinks?: boolean
}

const INDEX = 'model.safetensors.index.json'
const SINGLE = 'model.safetensors'

export function loadHfCheckpoint (dir: string, opts: HfLoadOptions = {}): LlamaCheckpoint {
  const configFile = join(dir, 'config.json')
  const config = parseHfConfig(readJson(configFile), configFile)
  const files = weightFiles(dir)
  if (opts.allowSymlinks !== true) {
    const linked = files.filter(isSymlink)
    if (linked.length > 0) {
      throw new CheckpointError(`${linked[0]!}: is a symlink (a Hugging Face cache?) and ONNX Runtime refuses symlinked weight files; make a plain copy with materializeWeightFiles() (hardlinks, or copies across filesystems) or \`cp -rL\``)
    }
  }

  // name -> (file, header entry); a name in two shards is ambiguous
  const found = new Map<string, { file: string, dtype: string, shape: readonly number[], offset: number, byteLength: number }>()
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
    if (f === undefined) throw new CheckpointError(`${index !== undefined ? join(dir, index.get(name) ?? INDEX) : join(dir, SINGLE)}: missing tensor ${name}`)
    if (index !== undefined && index.get(name) !== basename(f.file)) throw new CheckpointError(`${join(dir, INDEX)}: maps ${name} to ${index.get(name) ?? 'nothing'} but it is in ${basename(f.file)}`)
    if (f.dtype !== 'F32' && f.dtype !== 'F16' && f.dtype !== 'BF16') throw new CheckpointError(`${f.file}: tensor ${name} has dtype ${f.dtype} (only F32, F16, BF16 are supported)`)
    if (f.shape.length !== shape.length || f.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(`${f.file}: tensor ${name} has shape [${f.shape.join(',')}] but config.json implies [${shape.join(',')}]`)
    }
    weights.set(name, { shape, dtype: f.dtype as WeightDtype, source: { kind: 'file', path: f.file, offset: f.offset, byteLength: f.byteLength } })
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
      throw new CheckpointError(`${dir}: no ${SINGLE} or *.safetensors weights${other !== undefined ? ` (found ${other}; only safetensors is supported)` : ''}`)
    }
  }
  for (const n of names) if (!existsSync(join(dir, n))) throw new CheckpointError(`${join(dir, n)}: weight file named by ${INDEX} is missing`)
  return names.map((n) => join(dir, n))
}

/** model.safetensors.index.json's weight_map, or undefined when the folder has no index. */
function indexMap (dir: string): Map<string, string> | undefined {
  const file = join(dir, INDEX)
  if (!existsSync(file)) return undefined
  const j = readJson(file) as { weight_map?: unknown }
  if (typeof j !== 'object' || j === null || typeof j.weight_map !== 'object' || j.weight_map === null) throw new CheckpointError(`${file}: has no weight_map object`)
  const map = new Map<string, string>()
  for (const [name, shard] of Object.entries(j.weight_map as Record<string, unknown>)) {
    // shard names are plain file names in the same folder
    if (typeof shard !== 'string' || shard === '' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) throw new CheckpointError(`${file}: bad shard name ${JSON.stringify(shard)} for ${name}`)
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
    if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) throw new CheckpointError(`${file}: safetensors header length ${headerLen} does not fit the ${size}-byte file (truncated or not safetensors)`)
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
  try { text = readFileSync(file, 'utf8') } catch { throw new CheckpointError(`${file}: cannot read it (is this a Hugging Face model folder?)`) }
  try { return JSON.parse(text) } catch { throw new CheckpointError(`${file}: is not valid JSON`) }
}

function isSymlink (file: string): boolean {
  return lstatSync(file).isSymbolicLink()
}

export interface MaterializeResult {
  /** files now hardlinked to their targets */
  readonly linked: readonly string[]
  /** files copied (hardlink impossible: another filesystem, or not permitted) */
  readonly copied: readonly string[]
}

/**
 * Gives a model folder plain (non-symlink) files ONNX Runtime accepts. With `outDir` equal to `dir` (the
 * default) each symlink is replaced in place by a hardlink to its target, or a copy when the target is on
 * another filesystem; the replacement is a rename, so a crash leaves the symlink or the file, never half.
 * With another `outDir`, every top-level file of `dir` is hardlinked or copied there.
 */
export function materializeWeightFiles (dir: string, outDir: string = dir): MaterializeResult {
  const linked: string[] = []
  const copied: string[] = []
  const inPlace = realpathSync(dir) === (existsSync(outDir) ? realpathSync(outDir) : '')
  if (!inPlace) mkdirSync(outDir, { recursive: true })
  for (const name of readdirSync(dir).sort()) {
    const src = join(dir, name)
    const symlink = isSymlink(src)
    if (inPlace && !symlink) continue
    if (!statSync(src).isFile()) continue
    const target = realpathSync(src)
    const dst = join(outDir, name)
    const tmp = join(outDir, `.${name}.${process.pid}.materialize.tmp`)
    rmSync(tmp, { force: true })
    try {
      try {
        linkSync(target, tmp)
        linked.push(dst)
      } catch {
        copyFileSync(target, tmp)
        copied.push(dst)
      }
      renameSync(tmp, dst)
    } catch (err) {
      rmSync(tmp, { force: true })
      throw new CheckpointError(`${dst}: cannot materialize ${src}: ${(err as Error).message.split('\n')[0]!}`)
    }
  }
  return { linked, copied }
}
