// fedit peer: run a peer of a federated job until the job's rounds are done (or Ctrl-C / SIGTERM).
import '../../node/polyfill.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CliError } from '../cli-error.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { parseJobSpec, jobIdOf, JobSpecError } from '../../protocol/job-spec.ts'
import { createPeer } from '../../node/peer.ts'
import { createLocalTrainer } from '../../node/trainer-factory.ts'
import { readBootstrapFile, parseBootstrapAddr } from '../../bootstrap/bootstrap-list.ts'
import { parseFlags } from '../flags.ts'
import { numberFlag } from '../flag-values.ts'
import { readSwarmKeyFile } from '../../node/swarm-key.ts'
import type { AggregateFn } from '../../trainer/aggregate/types.ts'
import type { AggregationSpec } from '../../protocol/aggregation-spec.ts'

export const help = `usage: fedit peer --job FILE --model PATH --data FILE (--bootstrap MULTIADDR... | --bootstrap-file FILE)
                  [--listen MULTIADDR...] [--state DIR] [--allow FILE] [--swarm-key FILE] [--local] [--device cpu|cuda|webgpu] [--workers N]

Joins the job described by FILE: finds its other members through the DHT, trains LoRA adapters on the
local data when selected, aggregates when elected, and keeps the global adapter in DIR. One log line per round.
  --job FILE             job.json (base model, LoRA config, recipe, rounds, aggregation)
  --model PATH           the base model (Hugging Face folder or llama2.c checkpoint)
  --data FILE            local instruction data (jsonl or jsonl.gz)
  --bootstrap MULTIADDR  bootstrap addresses (/ip4/.../tcp/.../p2p/<id>), or --bootstrap-file with one per line
  --listen MULTIADDR     addresses to listen on (default /ip4/0.0.0.0/tcp/0)
  --state DIR            identity, global adapter (PEFT folder DIR/global), rounds log (default ./fedit-state)
  --allow FILE           private federation: only the peer ids in FILE (one per line) may connect
  --swarm-key FILE       private federation: libp2p pre-shared swarm key (make one: fedit keygen --swarm-key FILE)
  --local                many peers on one machine (demos): allow loopback; never on a public network
  --workers N            micro-batches trained at once, each in a thread of its own (default: one per core for a
                         model under 5M weights on the CPU, else 1); 1 when several peers share the machine
Restarting with the same --state rejoins the job where it stands.`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['job', 'model', 'data', 'state', 'bootstrap-file', 'allow', 'swarm-key', 'device', 'workers'], lists: ['bootstrap', 'listen'], booleans: ['local'] })
  const workers = numberFlag(f, 'workers', { integer: true, min: 1 })
  const need = (name: string): string => { const v = f.strings.get(name); if (v === undefined) throw new CliError(`--${name} is required`, 2); return v }
  const jobPath = need('job')
  let text: string
  try { text = readFileSync(jobPath, 'utf8') } catch { throw new CliError(`cannot read ${jobPath}`) }
  let job
  try { job = parseJobSpec(text, jobPath) } catch (err) { throw new CliError(err instanceof JobSpecError ? err.message : String(err)) }
  const bootstrap = [
    ...(f.lists.get('bootstrap') ?? []).map((a, i) => parseBootstrapAddr(a, `--bootstrap #${i + 1}`)),
    ...(f.strings.has('bootstrap-file') ? readBootstrapFile(f.strings.get('bootstrap-file')!) : [])
  ]
  if (bootstrap.length === 0) throw new CliError('give at least one --bootstrap MULTIADDR or a --bootstrap-file', 2)
  const readLines = (p: string): string[] => { try { return readFileSync(p, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '') } catch { throw new CliError(`cannot read ${p}`) } }
  const allowList = f.strings.has('allow') ? new Set(readLines(f.strings.get('allow')!)) : undefined
  let swarmKey: Uint8Array | undefined
  if (f.strings.has('swarm-key')) { try { swarmKey = readSwarmKeyFile(f.strings.get('swarm-key')!) } catch (err) { throw new CliError((err as Error).message) } }
  const stateDir = f.strings.get('state') ?? 'fedit-state'

  const trainer = await createLocalTrainer({ job, modelPath: need('model'), dataPath: need('data'), device: f.strings.get('device'), workers })
  const aggregate = aggregateFor(job.aggregation)
  const stamp = (): string => new Date().toISOString().slice(11, 19)
  const peer = createPeer({
    job, jobId: jobIdOf(job), trainer, aggregate, stateDir,
    listen: f.lists.get('listen'), bootstrap, local: f.booleans.has('local'), allowList, swarmKey,
    device: f.strings.get('device'),
    logger: (line) => { console.log(`${stamp()} ${line}`) }
  })
  // every refusal in one line, so an operator sees an attack as it happens
  peer.events.on('rejected', (r) => { console.log(`${stamp()} rejected ${r.reason} from ${r.from} round ${r.round ?? '-'} (${r.where})`) })
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('interrupted'))
    process.once('SIGTERM', () => resolve('terminated'))
  })
  try {
    await peer.start()
    console.log(`${stamp()} global adapter: ${join(stateDir, 'global')}`)
    const done = new Promise<string>((resolve) => {
      if (peer.global.round >= job.rounds) resolve('done')
      peer.events.once('done', () => resolve('done'))
    })
    const why = await Promise.race([stopSignal, done])
    if (why === 'done') {
      // keep serving the final adapter a little while, for members still fetching it
      console.log(`${stamp()} all ${job.rounds} rounds done; global ${peer.global.hash.slice(0, 12)}`)
      await Promise.race([stopSignal, new Promise((resolve) => setTimeout(resolve, Math.min(30_000, job.roundDeadlineSeconds * 1000)))])
    } else {
      console.log(`${stamp()} ${why}; stopping (state is saved, restart with the same --state to rejoin)`)
    }
  } finally {
    await peer.stop()
    await trainer.close()
  }
  return 0
}

/** The job's aggregation rule (trainer/aggregate/); a spec it cannot run is a one-line error. */
function aggregateFor (spec: AggregationSpec): AggregateFn {
  try {
    return buildAggregator(spec)
  } catch (err) {
    throw new CliError(`job aggregation: ${(err as Error).message}`)
  }
}
