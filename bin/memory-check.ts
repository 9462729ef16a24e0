// Before any session is built: the run's memory estimate (trainer/model/memory.ts) against --max-memory or the
// machine's memory, stopping with one line that names the figure and the flag to change.
import { totalmem } from 'node:os'
import { CliError } from './cli-error.ts'
import type { Flags } from './flags.ts'
import type { CheckpointLayout } from '../trainer/model/config.ts'
import type { MemoryPlan } from '../trainer/model/memory.ts'
import { estimateMemory, memoryProblem } from '../trainer/model/memory.ts'

/** --max-memory SIZE: bytes, or with a unit (16G, 16GB, 1500M, 1.5T); undefined when absent */
export function maxMemoryFlag (f: Flags): number | undefined {
  const raw = f.strings.get('max-memory')
  if (raw === undefined) return undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(raw)
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }
  const v = m === null ? NaN : Number(m[1]) * scale[m[2]!.toLowerCase() as keyof typeof scale]
  if (!(v > 0)) throw new CliError(`--max-memory must be a size such as 16G or 1500M, got '${raw}'`, 2)
  return v
}

/** Throws a one-line CliError when the estimate exceeds the budget; `lower` names the flags that shrink it. */
export function checkMemory (ck: CheckpointLayout, plan: MemoryPlan, f: Flags, lower: string): void {
  const max = maxMemoryFlag(f)
  const limit = max ?? totalmem()
  const source = max !== undefined ? '--max-memory' : 'this machine'
  const problem = memoryProblem(estimateMemory(ck, plan), limit, source, lower)
  if (problem !== undefined) throw new CliError(problem)
}
