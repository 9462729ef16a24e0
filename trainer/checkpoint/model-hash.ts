// The base-model hash a job pins (job.json's baseModel.sha256), defined so a user can compute it with
// coreutils:
//   llama2.c checkpoint (one .bin file):   sha256 of its bytes              sha256sum model.bin
//   Hugging Face folder:                    sha256 of the sha256sum lines of its *.safetensors files, in byte
//                                           order of their names:           cd DIR && LC_ALL=C sha256sum *.safetensors
// | sha256sum Only the weights count: a tokenizer or config.json edit that changes no weight leaves the hash alone, a
// merged adapter or another precision changes it. Each file's digest is cached (see ModelHashCache), so a
// 13 GB model is read once, not at every start.
import { createHash } from 'node:crypto'
import { createReadStream, readdirSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { CheckpointError } from './errors.ts'

/** A file's digest as last computed, valid while its size and mtime are unchanged. */
export interface FileDigestCache {
  get (path: string, size: number, mtimeMs: number): string | undefined
  set (path: string, size: number, mtimeMs: number, sha256: string): void
}

export interface ModelHashOptions {
  readonly cache?: FileDigestCache
  /** called before a file is read in full (not when its digest comes from the cache) */
  readonly onHashing?: (file: string, bytes: number) => void
}

/** The files whose bytes define the model, in hashing order, with the names the folder hash lists. */
export function modelWeightFiles (path: string): { kind: 'llama2c' | 'hf', files: string[] } {
  let isDir: boolean
  try {
    isDir = statSync(path).isDirectory()
  } catch { throw new CheckpointError(`${path}: no such model file or folder`) }
  // a file inside a HF folder (config.json, model.safetensors) names the folder, as loadCheckpoint takes it
  const dir = isDir ? path : basename(path) === 'config.json' || path.endsWith('.safetensors') ? dirname(path)
    : undefined
  if (dir === undefined) return { kind: 'llama2c', files: [path] }
  const names = readdirSync(dir).filter((f) => f.endsWith('.safetensors'))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  if (names.length === 0) throw new CheckpointError(`${dir}: no *.safetensors weights to hash`)
  return { kind: 'hf', files: names.map((n) => join(dir, n)) }
}

export async function modelHash (path: string, o: ModelHashOptions = {}): Promise<string> {
  const { kind, files } = modelWeightFiles(path)
  const digests: string[] = []
  for (const f of files) digests.push(await fileDigest(f, o))
  if (kind === 'llama2c') return digests[0]!
  const lines = files.map((f, i) => `${digests[i]!}  ${basename(f)}\n`).join('')
  return createHash('sha256').update(lines).digest('hex')
}

async function fileDigest (file: string, o: ModelHashOptions): Promise<string> {
  const full = resolve(file)
  const st = statSync(full)
  const cached = o.cache?.get(full, st.size, st.mtimeMs)
  if (cached !== undefined) return cached
  o.onHashing?.(file, st.size)
  const h = createHash('sha256')
  for await (const chunk of createReadStream(full, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer)
  const digest = h.digest('hex')
  o.cache?.set(full, st.size, st.mtimeMs, digest)
  return digest
}
