// The chain of confirmed rounds this peer adopted (its own, and those it caught up through), kept in
// <state>/chain.bin (a ChainResponse's bytes, written temp + rename) so a restart resumes from it and any peer
// can serve it to one that is behind (node/chain-sync.ts). One owner: CatchUp and MemberRole append to it.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../trainer/atomic-write.ts'
import { ChainResponse } from '../protocol/messages.ts'
import type { ChainLink } from '../protocol/messages.ts'

export class ChainStore {
  private readonly links = new Map<number, ChainLink>()
  /** member -> the first confirmed round whose election listed it (membership-book.ts: its age, as the job saw it) */
  private readonly listed = new Map<string, number>()
  private writing: Promise<void> = Promise.resolve()

  constructor (private readonly dir: string, private readonly log: (line: string) => void) {}

  private get path (): string { return join(this.dir, 'chain.bin') }

  /** The chain an earlier run kept; a damaged file is logged and ignored (the peer catches up again). */
  load (): void {
    if (!existsSync(this.path)) return
    try {
      for (const l of ChainResponse.decode(readFileSync(this.path)).links) {
        if (l.result !== undefined) this.keep(l)
      }
    } catch (e) {
      this.log(`state: ${this.path} unreadable (${(e as Error).message}); starting without a chain`)
    }
  }

  get (round: number): ChainLink | undefined { return this.links.get(round) }

  /** links held: it moves whenever firstListed may answer otherwise */
  get size (): number { return this.links.size }

  /** The first confirmed round whose election listed `peer` (undefined: none we hold). */
  firstListed (peer: string): number | undefined { return this.listed.get(peer) }

  private keep (l: ChainLink): void {
    const round = l.result!.round
    this.links.set(round, l)
    for (const m of l.members) if ((this.listed.get(m) ?? Infinity) > round) this.listed.set(m, round)
  }

  /** Consecutive links from `round` on, at most `max`. */
  from (round: number, max: number): ChainLink[] {
    const out: ChainLink[] = []
    for (let r = round; out.length < max && this.links.has(r); r++) out.push(this.links.get(r)!)
    return out
  }

  /** Adds verified links (or our own adopted round's) and saves the chain; a failed write is logged. */
  append (links: readonly ChainLink[]): void {
    for (const l of links) if (l.result !== undefined) this.keep(l)
    const all = [...this.links.values()].sort((a, b) => a.result!.round - b.result!.round)
    this.writing = this.writing
      .then(async () => { await writeFileAtomic(this.path, ChainResponse.encode({ links: all, reason: '' })) })
      .catch((e: Error) => { this.log(`state: chain not saved (${e.message})`) })
  }

  /** Resolves once every append so far is on disk (or failed and was logged). */
  async saved (): Promise<void> { await this.writing }
}
