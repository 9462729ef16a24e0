import { writeFileSync, renameSync, mkdirSync, openSync, fsyncSync, closeSync, rmSync } from 'node:fs'
import { writeFile, rename, mkdir, rm } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'

// Writes go to a temporary file beside the target, then rename(2) replaces it: a crash leaves either the
// old file or the new one, never half of one.
function tempPath (path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`)
}

export function writeFileAtomicSync (path: string, data: string | Uint8Array, mode?: number): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = tempPath(path)
  try {
    writeFileSync(tmp, data, mode === undefined ? undefined : { mode })
    const fd = openSync(tmp, 'r+')
    try { fsyncSync(fd) } finally { closeSync(fd) }
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
}

export async function writeFileAtomic (path: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = tempPath(path)
  try {
    await writeFile(tmp, data, { mode, flush: true })
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}
