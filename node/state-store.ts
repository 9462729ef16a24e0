// The peer's state directory:
//   identity.key                          libp2p private key (0600)
//   global/<sha256>.safetensors           global adapters by hash (the newest few)
//   global/adapter_model.safetensors      the current one again, with adapter_config.json beside it
//                                         (PEFT loads the folder)
//   state.json                            {jobId, round, hash}: written last, so a crash never points at a
//                                         missing adapter
//   rounds.json                           the log of rounds (RoundInfo[])
//   beacon.json                           {round, beacon}: the seed of round `round` + 1 (protocol/seeds.ts)
//   history.bin                           the job's per-peer history that goes with the global (history-codec.ts),
//                                         trusted on restart only when the chain names it (saved-history.ts)
//   evidence/                             evidence against peers (node/evidence-store.ts)
// Every write is atomic (temp file + rename).
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../trainer/atomic-write.ts'
import { sha256Hex } from './adapter-codec.ts'
import type { RoundInfo } from './round-info.ts'
import { StateError } from './errors.ts'

export interface SavedGlobal {
  readonly round: number
  readonly hash: string
  readonly bytes: Uint8Array
}

const KEEP_ADAPTERS = 3

export class StateStore {
  constructor (readonly dir: string, readonly jobId: string) {}

  get keyPath (): string { return join(this.dir, 'identity.key') }
  private get statePath (): string { return join(this.dir, 'state.json') }
  private get roundsPath (): string { return join(this.dir, 'rounds.json') }
  private adapterPath (hash: string): string { return join(this.dir, 'global', `${hash}.safetensors`) }

  /**
   * The saved global adapter, or undefined on a fresh directory. Throws StateError when the directory belongs
   * to another job or is damaged.
   */
  load (): SavedGlobal | undefined {
    if (!existsSync(this.statePath)) return undefined
    let s: { jobId?: unknown, round?: unknown, hash?: unknown }
    try {
      s = JSON.parse(readFileSync(this.statePath, 'utf8'))
    } catch {
      throw new StateError(`${this.statePath} is not valid JSON`)
    }
    if (s.jobId !== this.jobId) {
      throw new StateError(`${this.dir} holds the state of job ${String(s.jobId).slice(0, 16)}…, ` +
        `not ${this.jobId.slice(0, 16)}… (use another --state directory)`)
    }
    if (!Number.isSafeInteger(s.round) || typeof s.hash !== 'string' || !/^[0-9a-f]{64}$/.test(s.hash)) {
      throw new StateError(`${this.statePath}: bad round or hash`)
    }
    const bytes = new Uint8Array(readFileSync(this.adapterPath(s.hash)))
    if (sha256Hex(bytes) !== s.hash) {
      throw new StateError(`${this.adapterPath(s.hash)} does not match its hash (damaged?)`)
    }
    return { round: s.round as number, hash: s.hash, bytes }
  }

  async saveGlobal (g: SavedGlobal, peftConfig: string): Promise<void> {
    await writeFileAtomic(this.adapterPath(g.hash), g.bytes)
    await writeFileAtomic(join(this.dir, 'global', 'adapter_model.safetensors'), g.bytes)
    await writeFileAtomic(join(this.dir, 'global', 'adapter_config.json'), peftConfig)
    await writeFileAtomic(this.statePath, JSON.stringify({ jobId: this.jobId, round: g.round, hash: g.hash }) + '\n')
    this.prune(g.hash)
  }

  loadRounds (): RoundInfo[] {
    if (!existsSync(this.roundsPath)) return []
    try { return JSON.parse(readFileSync(this.roundsPath, 'utf8')) as RoundInfo[] } catch { return [] }
  }

  async saveRounds (rounds: readonly RoundInfo[]): Promise<void> {
    await writeFileAtomic(this.roundsPath, JSON.stringify(rounds, null, 1) + '\n')
  }

  /** The job history an earlier run kept, as bytes (unchecked: see saved-history.ts), or undefined. */
  loadHistory (): Uint8Array | undefined {
    const p = join(this.dir, 'history.bin')
    if (!existsSync(p)) return undefined
    try { return new Uint8Array(readFileSync(p)) } catch { return undefined }
  }

  async saveHistory (bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.dir, 'history.bin'), bytes)
  }

  /** The saved seed of the round after `completed`, if it was saved at that round. */
  loadBeacon (completed: number): string | undefined {
    const p = join(this.dir, 'beacon.json')
    if (!existsSync(p)) return undefined
    try {
      const b = JSON.parse(readFileSync(p, 'utf8')) as { round?: unknown, beacon?: unknown }
      return b.round === completed && typeof b.beacon === 'string' && /^[0-9a-f]{64}$/.test(b.beacon) ? b.beacon
        : undefined
    } catch { return undefined }
  }

  async saveBeacon (round: number, beacon: string): Promise<void> {
    await writeFileAtomic(join(this.dir, 'beacon.json'), JSON.stringify({ round, beacon }) + '\n')
  }

  private prune (current: string): void {
    const dir = join(this.dir, 'global')
    const files = readdirSync(dir)
      .filter((f) => /^[0-9a-f]{64}\.safetensors$/.test(f) && f !== `${current}.safetensors`)
    if (files.length < KEEP_ADAPTERS) return
    // keep whatever is newest by round order is unknown here; drop all but the current and one other
    for (const f of files.slice(0, files.length - 1)) rmSync(join(dir, f), { force: true })
  }
}
