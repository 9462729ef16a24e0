// fedit peer: run a peer of a federated job until the job's rounds are done (or Ctrl-C / SIGTERM).
import '../../node/polyfill.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CliError } from '../cli-error.ts'
import { checkMemory } from '../memory-check.ts'
import { loadCheckpointLayout } from '../../trainer/checkpoint/load.ts'
import { DEFAULT_RECIPE } from '../../trainer/train/recipe.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { parseJobSpec, jobIdOf, JobSpecError } from '../../protocol/job-spec.ts'
import { createPeer } from '../../node/peer.ts'
import { createLocalTrainer } from '../../node/trainer-factory.ts'
import { logTrainingProgress } from '../training-log.ts'
import { readBootstrapFile, parseBootstrapAddr } from '../../bootstrap/bootstrap-list.ts'
import { parseFlags } from '../flags.ts'
import { deviceFlag, numberFlag, quantizeFlag, quantizeNote } from '../flag-values.ts'
import type { Flags } from '../flags.ts'
import type { CheckpointLayout } from '../../trainer/model/config.ts'
import type { PrecisionChoice } from '../../trainer/model/precision.ts'
import { parsePrecision, PrecisionError, resolvePrecision } from '../../trainer/model/precision.ts'
import { readSwarmKeyFile } from '../../node/swarm-key.ts'
import { RELAY_FLAGS, relayHelp, relayLimits } from '../relay-flags.ts'
import { checkModelPin, ModelPinError } from '../../node/model-pin.ts'
import { watchPeer } from '../../node/peer-watch.ts'
import { dataNotes } from '../data-notes.ts'
import { CheckpointError } from '../../trainer/checkpoint/errors.ts'
import type { AggregateFn } from '../../trainer/aggregate/types.ts'
import type { AggregationSpec } from '../../protocol/aggregation-spec.ts'
import { parseListenAddr, ListenAddrError } from '../../node/observe/http-listen.ts'
import type { ListenAddr } from '../../node/observe/http-listen.ts'
import { createMetricsRegistry } from '../../node/observe/metrics.ts'
import { startObservability } from '../../node/observe/observability.ts'
import { assertStateFolderFree } from '../../node/observe/control-socket.ts'
import type { Observability } from '../../node/observe/observability.ts'
import { makeLogger, parseLogFormat } from '../log-format.ts'

export const help = `usage: fedit peer --job FILE --model PATH --data FILE
                  (--bootstrap MULTIADDR... | --bootstrap-file FILE)
                  [--listen MULTIADDR...] [--announce MULTIADDR...] [--state DIR] [--allow FILE]
                  [--swarm-key FILE] [--local]
                  [--device cpu|cuda|webgpu] [--precision auto|fp32|fp16|bf16] [--workers N]
                  [--recompute] [--quantize int8|int4]
                  [--metrics HOST:PORT] [--dashboard HOST:PORT] [--log-format text|json]
                  [--upnp] [--relay [--relay-slots N] [--relay-data-mib N] [--relay-duration-s N]]

Joins the job described by FILE: finds its other members through the DHT, trains LoRA adapters on the
local data when selected, aggregates when elected, and keeps the global adapter in DIR. One log line per round.
  --job FILE             job.json (base model, LoRA config, recipe, rounds, aggregation)
  --model PATH           the base model (Hugging Face folder or llama2.c checkpoint); its weights must hash to
                         the job's baseModel.sha256 (hashed once, then cached in the state folder)
  --data FILE            local instruction data (jsonl or jsonl.gz)
  --bootstrap MULTIADDR  bootstrap addresses (/ip4/.../tcp/.../p2p/<id>), or --bootstrap-file with one per line
  --listen MULTIADDR     addresses to listen on (default /ip4/0.0.0.0/tcp/0)
  --announce MULTIADDR   an address others reach this peer at, advertised as it is (a relay's public address:
                         other peers find a relay through the DHT by the addresses it had when they met it)
  --state DIR            identity, global adapter (PEFT folder DIR/global), rounds log (default ./fedit-state)
  --allow FILE           private federation: only the peer ids in FILE (one per line) may connect
  --swarm-key FILE       private federation: libp2p pre-shared swarm key (make one: fedit keygen --swarm-key FILE)
  --local                many peers on one machine (demos): allow loopback; never on a public network
  --max-memory SIZE      stop before joining when the memory estimate exceeds SIZE (e.g. 16G; default: the machine's)
  --precision P          compute precision: auto (default: the checkpoint's on a GPU, fp32 on the CPU), fp32,
                         fp16 or bf16 (GPU only); a job whose recipe.precision pins one trains at that
  --recompute            recompute each layer's activations in the backward instead of keeping them: less
                         memory at long sequences (the job's recipe.maxLength), the same gradients
  --quantize int8|int4   the frozen linear weights block-quantized at load (QLoRA-style; fp32 compute): a
                         faster CPU step; this peer's updates still apply to the job's unquantized model
  --workers N            micro-batches trained at once, each in a thread of its own (default: one per core for a
                         model under 5M weights on the CPU, else 1); 1 when several peers share the machine
  --upnp                 ask the home router for a port mapping (UPnP / NAT-PMP), so others can dial us directly
  --relay                also relay for peers behind NATs (only useful on a reachable machine); limits as a
                         bootstrap's:
${relayHelp}
  --metrics HOST:PORT    serve Prometheus metrics (fedit_* and libp2p's) at http://HOST:PORT/metrics
  --dashboard HOST:PORT  serve a live, read-only dashboard of the job at http://HOST:PORT/
                         (HOST defaults to 127.0.0.1 for both; port 0 picks a free one)
  --log-format FORMAT    text (default) or json: one JSON object a line, for log collectors
Behind a NAT nothing needs opening: the peer learns whether others can dial it (AutoNAT), reserves a slot on a
relay (the bootstrap) when they cannot, and upgrades relayed connections to direct ones where it can (DCUtR).
Restarting with the same --state rejoins the job where it stands. \`fedit status --state DIR\` shows what it is
doing.`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    strings: ['job', 'model', 'data', 'state', 'bootstrap-file', 'allow', 'swarm-key', 'device', 'precision', 'workers',
      'metrics', 'dashboard', 'log-format', 'max-memory', 'quantize', ...RELAY_FLAGS],
    lists: ['bootstrap', 'listen', 'announce'],
    booleans: ['local', 'relay', 'upnp', 'recompute']
  })
  const relay = f.booleans.has('relay') ? relayLimits(f) : undefined
  const format = parseLogFormat(f.strings.get('log-format'))
  const metricsAddr = listenFlag(f.strings.get('metrics'), '--metrics')
  const dashboardAddr = listenFlag(f.strings.get('dashboard'), '--dashboard')
  const workers = numberFlag(f, 'workers', { integer: true, min: 1 })
  const need = (name: string): string => {
    const v = f.strings.get(name)
    if (v === undefined) throw new CliError(`--${name} is required`, 2)
    return v
  }
  const jobPath = need('job')
  let text: string
  try { text = readFileSync(jobPath, 'utf8') } catch { throw new CliError(`cannot read ${jobPath}`) }
  let job
  try {
    job = parseJobSpec(text, jobPath)
  } catch (err) { throw new CliError(err instanceof JobSpecError ? err.message : String(err)) }
  const bootstrap = [
    ...(f.lists.get('bootstrap') ?? []).map((a, i) => parseBootstrapAddr(a, `--bootstrap #${i + 1}`)),
    ...(f.strings.has('bootstrap-file') ? readBootstrapFile(f.strings.get('bootstrap-file')!) : [])
  ]
  if (bootstrap.length === 0) throw new CliError('give at least one --bootstrap MULTIADDR or a --bootstrap-file', 2)
  const readLines = (p: string): string[] => {
    try {
      return readFileSync(p, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '')
    } catch { throw new CliError(`cannot read ${p}`) }
  }
  const allowList = f.strings.has('allow') ? new Set(readLines(f.strings.get('allow')!)) : undefined
  let swarmKey: Uint8Array | undefined
  if (f.strings.has('swarm-key')) {
    try {
      swarmKey = readSwarmKeyFile(f.strings.get('swarm-key')!)
    } catch (err) { throw new CliError((err as Error).message) }
  }
  const stateDir = f.strings.get('state') ?? 'fedit-state'

  // before the model loads: a second peer on one state folder would overwrite the first one's adapters
  try { await assertStateFolderFree(stateDir) } catch (err) { throw new CliError((err as Error).message) }
  const jobId = jobIdOf(job)
  let peerId = ''
  const log = makeLogger(format, () => peerId === '' ? {} : { peer: peerId })
  const modelPath = need('model')
  try {
    await checkModelPin(job, modelPath, stateDir, log)
  } catch (err) {
    throw err instanceof ModelPinError || err instanceof CheckpointError ? new CliError(err.message) : err
  }
  // the round's train session and the evaluator's eval session share the weights, not their working sets
  const microBatch = Math.min(DEFAULT_RECIPE.microBatchSize, job.recipe.batchSize)
  const lora = { ...job.lora, targetModules: [...job.lora.targetModules] }
  // shapes and types only (a llama2.c file's header): the trainer worker reads the weights
  const ckpt = loadCheckpointLayout(modelPath)
  const precision = jobPrecision(job.recipe.precision, f, ckpt)
  const recompute = f.booleans.has('recompute')
  const quantize = quantizeFlag(f, resolvePrecision(precision, deviceFlag(f), ckpt))
  checkMemory(ckpt, { kind: 'train', pair: true, microBatch, seq: job.recipe.maxLength, lora, recompute, quantize },
    f, recompute ? "the job's recipe.maxLength" : "the job's recipe.maxLength, or use --recompute")
  const dataPath = need('data')
  if (quantize !== undefined) log(quantizeNote(quantize))
  const trainer = await createLocalTrainer({ job, modelPath, dataPath, device: f.strings.get('device'), workers,
    precision, recompute, quantize })
  for (const line of dataNotes(dataPath, trainer.stats)) log(line)
  const aggregate = aggregateFor(job.aggregation)
  const metrics = metricsAddr !== undefined ? createMetricsRegistry() : undefined
  const peer = createPeer({
    job, jobId, trainer, aggregate, stateDir,
    listen: f.lists.get('listen'), announce: f.lists.get('announce'), bootstrap, local: f.booleans.has('local'),
    allowList, swarmKey,
    relay, upnp: f.booleans.has('upnp'),
    device: f.strings.get('device'),
    metrics: metrics?.libp2p,
    logger: log
  })
  // every refusal in one line, so an operator sees an attack as it happens
  peer.events.on('rejected', (r) => { log(`rejected ${r.reason} from ${r.from} round ${r.round ?? '-'} (${r.where})`) })
  const unlogTraining = logTrainingProgress(peer.events, log)
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('interrupted'))
    process.once('SIGTERM', () => resolve('terminated'))
  })
  let obs: Observability | undefined
  let unwatch = (): void => {}
  try {
    obs = await startObservability({
      peer, job, jobId, stateDir, dashboard: dashboardAddr,
      metrics: metrics !== undefined && metricsAddr !== undefined
        ? { addr: metricsAddr, registry: metrics.registry }
        : undefined
    })
    await peer.start()
    peerId = peer.peerId
    unwatch = watchPeer(peer, { minPeers: job.minPeers, bootstrap, local: f.booleans.has('local'), log })
    log(`global adapter: ${join(stateDir, 'global')}`)
    if (obs.metricsUrl !== undefined) log(`metrics: ${obs.metricsUrl}`)
    if (obs.dashboardUrl !== undefined) log(`dashboard: ${obs.dashboardUrl}`)
    log(obs.controlPath !== undefined
      ? `status: fedit status --state ${stateDir}`
      : `status: the path ${stateDir} is too long for a control socket; fedit status reads the state folder only`)
    const done = new Promise<string>((resolve) => {
      if (peer.global.round >= job.rounds) resolve('done')
      peer.events.once('done', () => resolve('done'))
    })
    const why = await Promise.race([stopSignal, done])
    if (why === 'done') {
      // keep serving the final adapter a little while, for members still fetching it
      log(`all ${job.rounds} rounds done; global ${peer.global.hash.slice(0, 12)}`)
      await Promise.race([stopSignal, new Promise((resolve) => setTimeout(resolve,
        Math.min(30_000, job.roundDeadlineSeconds * 1000)))])
    } else {
      log(`${why}; stopping (state is saved, restart with the same --state to rejoin)`)
    }
  } finally {
    await obs?.close()
    unwatch()
    unlogTraining()
    await peer.stop()
    await trainer.close()
  }
  return 0
}

function listenFlag (v: string | undefined, flag: string): ListenAddr | undefined {
  if (v === undefined) return undefined
  try { return parseListenAddr(v, flag) } catch (err) { throw new CliError((err as ListenAddrError).message, 2) }
}

/** The job's aggregation rule (trainer/aggregate/); a spec it cannot run is a one-line error. */
function aggregateFor (spec: AggregationSpec): AggregateFn {
  try {
    return buildAggregator(spec)
  } catch (err) {
    throw new CliError(`job aggregation: ${(err as Error).message}`)
  }
}

/**
 * The precision this peer trains at: the job's recipe.precision when it pins one (a different --precision is a
 * one-line error), else --precision; checked for this device before the trainer starts.
 */
function jobPrecision (pinned: PrecisionChoice | undefined, f: Flags, ckpt: CheckpointLayout): PrecisionChoice {
  const flag = f.strings.get('precision')
  if (pinned !== undefined && flag !== undefined && flag !== pinned) {
    throw new CliError(`--precision ${flag}: this job's recipe pins precision ${pinned}`, 2)
  }
  try {
    const choice = parsePrecision(pinned ?? flag ?? 'auto')
    resolvePrecision(choice, deviceFlag(f), ckpt)
    return choice
  } catch (err) { throw err instanceof PrecisionError ? new CliError(err.message, 2) : err }
}
