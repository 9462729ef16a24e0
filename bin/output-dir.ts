// An output folder checked (created) before the work that fills it: a run must not train for an hour and
// then fail on mkdir because --out names a file or a folder it cannot write.
import { accessSync, constants, mkdirSync, statSync } from 'node:fs'
import { CliError } from './cli-error.ts'

export function prepareOutputDir (dir: string, flag = '--out'): void {
  let isDir: boolean | undefined
  try { isDir = statSync(dir).isDirectory() } catch { isDir = undefined }
  if (isDir === false) {
    throw new CliError(`${flag} ${dir} is a file; it must name a folder (it is created if missing)`, 2)
  }
  try {
    if (isDir === undefined) mkdirSync(dir, { recursive: true })
    accessSync(dir, constants.W_OK)
  } catch (err) {
    const code = (err as { code?: string }).code
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR'
      ? 'a part of the path is a file' : (err as Error).message
    throw new CliError(`${flag} ${dir}: cannot write there (${why})`)
  }
}
