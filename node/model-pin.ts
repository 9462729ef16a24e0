// A peer trains only on the base weights its job pins (baseModel.sha256, defined in
// trainer/checkpoint/model-hash.ts): members on different weights would average nonsense without a word.
// File digests are cached in the state folder (model-hashes.json, by absolute path, size and mtime), so a
// 13 GB model is hashed on the first start only.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JobSpec } from '../protocol/job-spec.ts'
import { modelHash } from '../trainer/checkpoint/model-hash.ts'
import type { FileDigestCache } from '../trainer/checkpoint/model-hash.ts'
import { writeFileAtomicSync } from '../trainer/atomic-write.ts'

export class ModelPinError extends Error {
  constructor (message: string) { super(message); this.name = 'ModelPinError' }
}

interface Entry { readonly size: number, readonly mtimeMs: number, readonly sha256: string }

/** The digests cache of one state folder; a missing or damaged file is an empty cache (it only saves time). */
export class StateDigestCache implements FileDigestCache {
  private readonly entries: Record<string, Entry>
  constructor (private readonly file: string) {
    let parsed: unknown
    try { parsed = JSON.parse(readFileSync(file, 'utf8')) } catch { parsed = {} }
    this.entries = {}
    if (typeof parsed === 'object' && parsed !== null) {
      for (const [path, e] of Object.entries(parsed as Record<string, Partial<Entry>>)) {
        if (typeof e?.size === 'number' && typeof e.mtimeMs === 'number' && typeof e.sha256 === 'string' &&
          /^[0-9a-f]{64}$/.test(e.sha256)) {
          this.entries[path] = { size: e.size, mtimeMs: e.mtimeMs, sha256: e.sha256 }
        }
      }
    }
  }

  get (path: string, size: number, mtimeMs: number): string | undefined {
    const e = this.entries[path]
    return e !== undefined && e.size === size && e.mtimeMs === mtimeMs ? e.sha256 : undefined
  }

  set (path: string, size: number, mtimeMs: number, sha256: string): void {
    this.entries[path] = { size, mtimeMs, sha256 }
    writeFileAtomicSync(this.file, JSON.stringify(this.entries, null, 1) + '\n')
  }
}

export function modelHashCache (stateDir: string): StateDigestCache {
  return new StateDigestCache(join(stateDir, 'model-hashes.json'))
}

/** Resolves when `modelPath` hashes to the job's baseModel.sha256; throws ModelPinError (one line) when not. */
export async function checkModelPin (job: JobSpec, modelPath: string, stateDir: string,
  log?: (line: string) => void): Promise<void> {
  const got = await modelHash(modelPath, {
    cache: modelHashCache(stateDir),
    onHashing: (file, bytes) => {
      if (bytes > 256 << 20) {
        log?.(`hashing ${file} (${(bytes / 2 ** 30).toFixed(1)} GB; once, then cached in ${stateDir})`)
      }
    }
  })
  if (got !== job.baseModel.sha256) {
    throw new ModelPinError(`${modelPath} is not the job's base model: its weights hash to ${got.slice(0, 16)}…, ` +
      `the job pins ${job.baseModel.id} at ${job.baseModel.sha256.slice(0, 16)}… (baseModel.sha256; see README ` +
        `"Joining as a peer")`)
  }
}
