// The simulation's default: every peer is its own `fedit peer` process (and the bootstrap a `fedit bootstrap`
// process), as real users run them, each with its own state directory and its own data file. The orchestrator
// follows them through their log lines and reads round reports and global adapters from their state dirs.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { JobSpec } from '../protocol/job-spec.ts'
import type { RoundInfo } from '../node/round-info.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { writeFileAtomicSync } from '../trainer/atomic-write.ts'
import { decodeAdapter } from '../node/adapter-codec.ts'
import type { AdapterLayout } from '../node/adapter-codec.ts'
import type { Fleet, FleetEvents } from './fleet.ts'
import { isNoteworthy, ResultChoice } from './fleet.ts'
import type { PeerShare } from './peer-data.ts'

const FEDIT = fileURLToPath(new URL('../bin/fedit.js', import.meta.url))

export interface ProcessFleetOptions {
  readonly job: JobSpec
  readonly shares: readonly PeerShare[]
  /** the 80 held-out records (Dolly lines 1-80) */
  readonly test: PeerShare['records']
  readonly dir: string
  readonly modelPath: string
  /** names and shapes of the job's adapters (to decode the global adapters the peers store) */
  readonly layout: AdapterLayout
  readonly log: (line: string) => void
  readonly startTimeoutMs?: number
}

/** A peer's log line, classified (pure; the formats are node/peer.ts's and node/round-info.ts's). */
export type PeerLine =
  | { readonly kind: 'started', readonly peerId: string }
  | { readonly kind: 'aggregating', readonly round: number, readonly attempt: number,
    readonly selected: readonly string[] }
  | { readonly kind: 'result', readonly round: number, readonly attempt: number, readonly mine: boolean }
  | { readonly kind: 'trained', readonly round: number, readonly samples: number, readonly trainLoss: number }
  | { readonly kind: 'other' }

export function parsePeerLine (line: string): PeerLine {
  let m = /\bpeer (\S+) in job /.exec(line)
  if (m !== null) return { kind: 'started', peerId: m[1]! }
  m = /\bround (\d+)(?: \(failover (\d+)\))?: aggregating; selected (\S*)/.exec(line)
  if (m !== null) {
    return { kind: 'aggregating', round: Number(m[1]), attempt: Number(m[2] ?? 0), selected: m[3]!.split(',')
      .filter((s) => s !== '') }
  }
  m = /\bround (\d+)(?: \(failover (\d+)\))?: aggregator=\S+( \(me\))? included=/.exec(line)
  if (m !== null) return { kind: 'result', round: Number(m[1]), attempt: Number(m[2] ?? 0), mine: m[3] !== undefined }
  m = /\bround (\d+): trained on (\d+) examples in \S+ s, loss (\S+),/.exec(line)
  if (m !== null) return { kind: 'trained', round: Number(m[1]), samples: Number(m[2]), trainLoss: Number(m[3]) }
  return { kind: 'other' }
}

/** A peer's data file in Dolly's format: lines 1-80 are the held-out test split (as in Dolly itself, so the
 * trainer's held-out rule keeps them out of training), then the peer's own partition. */
function toDollyJsonl (test: PeerShare['records'], records: PeerShare['records']): string {
  return [...test, ...records].map((r) => JSON.stringify({ instruction: r.instruction, context: r.input,
    response: r.response, category: r.category })).join('\n') + '\n'
}

async function poll<T> (get: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const t0 = Date.now()
  for (;;) {
    const v = get()
    if (v !== undefined) return v
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export async function startProcessFleet (o: ProcessFleetOptions): Promise<Fleet> {
  const events = new EventEmitter<FleetEvents>()
  const jobPath = join(o.dir, 'job.json')
  writeFileAtomicSync(jobPath, JSON.stringify(o.job, null, 2) + '\n')
  const children: ChildProcess[] = []
  const spawnFedit = (args: string[], logName: string): ChildProcess => {
    const child = spawn(process.execPath, [FEDIT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const file = createWriteStream(join(o.dir, 'logs', `${logName}.log`))
    child.stdout!.pipe(file, { end: false }); child.stderr!.pipe(file, { end: false })
    children.push(child)
    return child
  }
  writeFileAtomicSync(join(o.dir, 'logs', '.keep'), '')
  // Ctrl-C or a kill of `fedit simulate` takes its peer and bootstrap processes with it (they outlived it,
  // idle but holding ports, state folders and a test runner waiting on them); then the signal does its default
  const onSignal = (sig: NodeJS.Signals): void => {
    for (const ch of children) ch.kill('SIGKILL')
    unwatch()
    process.kill(process.pid, sig)
  }
  const unwatch = (): void => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const stopAll = async (): Promise<void> => {
    unwatch()
    await Promise.all(children.map(async (ch) => {
      if (ch.exitCode !== null || ch.signalCode !== null) return
      const gone = new Promise((resolve) => ch.once('exit', resolve))
      ch.kill('SIGTERM')
      const t = setTimeout(() => ch.kill('SIGKILL'), 5000)
      await gone
      clearTimeout(t)
    }))
  }
  try {
    // the bootstrap prints its dialable addresses, one per line
    const boot = spawnFedit(['bootstrap', '--local', '--listen', '/ip4/127.0.0.1/tcp/0', '--key',
      join(o.dir, 'bootstrap.key')], 'bootstrap')
    const bootAddr = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: boot.stdout! })
      rl.once('line', (l) => resolve(l.trim()))
      boot.once('exit', (code) => reject(new Error(`fedit bootstrap exited (${code}) before printing its address; ` +
        `see ${join(o.dir, 'logs', 'bootstrap.log')}`)))
    })
    const ids: string[] = new Array(o.shares.length).fill('')
    const dead = new Set<number>()
    let exitedEarly: string | undefined
    const announced = new Set<string>()
    const results = new ResultChoice()
    const shortToId = (s: string): string => ids.find((id) => id.endsWith(s)) ?? s
    const readRounds = (i: number): RoundInfo[] | undefined => {
      try {
        return JSON.parse(readFileSync(join(o.dir, o.shares[i]!.label, 'rounds.json'), 'utf8')) as RoundInfo[]
      } catch { return undefined }
    }
    const onResult = async (i: number, round: number, attempt: number): Promise<void> => {
      const info = await poll(() => readRounds(i)?.find((r) => r.round === round && r.attempt === attempt), 30_000,
        `round ${round} (attempt ${attempt}) in ${o.shares[i]!.label}/rounds.json`)
      const file = join(o.dir, o.shares[i]!.label, 'global', `${info.hash}.safetensors`)
      const bytes = new Uint8Array(await poll(() => existsSync(file) ? readFileSync(file) : undefined, 30_000, file))
      const d = decodeAdapter(bytes, o.layout, o.layout.byteLength)
      if (!d.ok) throw new Error(`${file}: ${d.reason}`)
      const adapter: Adapter = d.adapter
      events.emit('result', { info, adapter: async () => adapter })
    }
    o.shares.forEach((s, i) => {
      writeFileAtomicSync(join(o.dir, 'data', `${s.label}.jsonl`), toDollyJsonl(o.test, s.records))
      const child = spawnFedit(['peer', '--job', jobPath, '--model', o.modelPath,
        '--data', join(o.dir, 'data', `${s.label}.jsonl`), '--bootstrap', bootAddr, '--state', join(o.dir, s.label),
        '--local', '--listen', '/ip4/127.0.0.1/tcp/0', '--workers', '1'], s.label)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const p = parsePeerLine(line)
        if (p.kind === 'started') ids[i] = p.peerId
        else if (p.kind === 'aggregating') {
          const key = `${p.round}/${p.attempt}/${ids[i]!}`
          if (announced.has(key)) return
          announced.add(key)
          events.emit('announce', { round: p.round, attempt: p.attempt, aggregator: ids[i]!,
            selected: p.selected.map(shortToId) })
        } else if (p.kind === 'trained') {
          events.emit('trained', { peer: ids[i]!, round: p.round, trainLoss: p.trainLoss, samples: p.samples })
        } else if (p.kind === 'result' && (p.mine || results.attemptOf(p.round) !== undefined) &&
          results.accept(p.round, p.attempt)) {
          // a round's first report comes from its aggregator; a peer that switched to an earlier attempt's result
          // (fork choice) reports it again, with its copy of that attempt's adapter
          onResult(i, p.round, p.attempt).catch((err: Error) => {
            events.emit('note', `${s.label}: could not read round ${p.round} (${err.message})`)
          })
        } else if (isNoteworthy(line)) events.emit('note',
          `${s.label}: ${line.replace(/^\d\d:\d\d:\d\d /, '')}`)
      })
      child.once('exit', (code, signal) => {
        if (ids[i] === '') exitedEarly ??= `${s.label} exited (${signal ?? code}) before it started: ` +
          `see ${join(o.dir, 'logs', `${s.label}.log`)}`
        if (!dead.has(i) && code !== 0) {
          events.emit('note', `${s.label} exited (${signal ?? code}); see ${join(o.dir, 'logs', `${s.label}.log`)}`)
        }
      })
    })
    await poll(() => {
      if (exitedEarly !== undefined) throw new Error(exitedEarly)
      return ids.every((id) => id !== '') ? true : undefined
    }, o.startTimeoutMs ?? 120_000, 'every peer process to start')
    return {
      events,
      ids,
      async kill (peer) {
        const i = ids.indexOf(peer)
        if (i < 0 || dead.has(i)) return
        dead.add(i)
        children[i + 1]!.kill('SIGKILL')
      },
      alive: () => ids.filter((_, i) => !dead.has(i)),
      async stop () { ids.forEach((_, i) => dead.add(i)); await stopAll() }
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
