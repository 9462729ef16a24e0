// Evidence this peer holds against others, one JSON file each in <state>/evidence/, and the set of peers it
// excludes from elections, selection and witnessing for the rest of the job (restored on restart, re-checked).
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../trainer/atomic-write.ts'
import type { Evidence } from '../protocol/evidence.ts'
import { verifyEvidence } from '../protocol/evidence.ts'
import { verifySigned } from './signatures.ts'

export class EvidenceStore {
  private readonly offenders = new Set<string>()

  constructor (private readonly dir: string, private readonly quorum: number) {}

  get excluded (): ReadonlySet<string> { return this.offenders }

  /** Loads the evidence kept by an earlier run; a file that does not prove itself is ignored. */
  async load (): Promise<void> {
    if (!existsSync(this.dir)) return
    for (const f of readdirSync(this.dir).filter((n) => n.endsWith('.json'))) {
      try {
        const e = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as Evidence
        if (await verifyEvidence(e, this.quorum, verifySigned)) this.offenders.add(e.offender)
      } catch { /* an unreadable or invalid file is no evidence: skipped */ }
    }
  }

  /** Keeps `e` (when it proves itself) and excludes its offender. Returns false for evidence that does not hold. */
  async add (e: Evidence): Promise<boolean> {
    if (!await verifyEvidence(e, this.quorum, verifySigned)) return false
    this.offenders.add(e.offender)
    mkdirSync(this.dir, { recursive: true })
    await writeFileAtomic(join(this.dir, `${e.kind}-r${e.round}-a${e.attempt}-${e.offender.slice(-12)}.json`),
      JSON.stringify(e, null, 1) + '\n')
    return true
  }
}
