// fedit simulate: a local multi-peer federation on 127.0.0.1 (the FedIT experiment); see sim/simulation.ts.
import '../../node/polyfill.ts'
import { CliError } from '../cli-error.ts'
import { parseFlags } from '../flags.ts'
import { resolveConfig, SimConfigError, DEMO } from '../../sim/sim-config.ts'
import type { SimConfig } from '../../sim/sim-config.ts'
import { runSimulation } from '../../sim/simulation.ts'
import { validateReport } from '../../sim/report.ts'

export const help = `usage: fedit simulate [--peers N] [--rounds R] [--per-round K] [--in-process] [--seed S]
                      [--out DIR]
                      [--baselines] [--partition iid|shepherd-categories|shepherd-quantity|dirichlet] [--alpha A]
                      [--aggregation fedavg|robust] [--preset paper] [--kill-aggregator-at ROUND] [--drop-rate P]
                      [--malicious M --attack NAME] [--local-steps N] [--max-length L] [--limit-per-peer N]

Starts a bootstrap and N peers on 127.0.0.1 that run federated instruction tuning (LoRA) of the model on
Dolly-15k, each peer holding its own partition of the training pool; prints one line per event and the
held-out loss of every round's global adapter (Dolly lines 1-80, scored by this command, not the peers).
  --peers N              peers (default ${DEMO.peers}); --rounds R (default ${DEMO.rounds});
                         --per-round K trainers per round (default ${DEMO.perRound})
  --in-process           all peers in this process (trainers in worker threads);
                         default: one \`fedit peer\` process each
  --seed S               seeds the partition, identities, faults and training (default ${DEMO.seed})
  --out DIR              writes DIR/report.json, DIR/report.html (all in one page), DIR/adapter (PEFT), DIR/loss.svg,
                         DIR/category-mix.svg, DIR/tables.txt
  --baselines            the experiment: also train Local-1/2/3 (one peer's data alone) and centralized (all data)
  --partition METHOD     how the training pool is split (default ${DEMO.partition}); --alpha A for the Dirichlet ones
  --aggregation RULE     fedavg (the paper's) or robust (clip, outlier filters, trimmed mean)
                         (default ${DEMO.aggregation})
  --preset paper         100 peers, 5 per round, 20 rounds, rank 8, lr 1.5e-4, batch 32, length 512 (slow on a CPU)
  --kill-aggregator-at R stop the elected aggregator of round R right after its announce (the failover finishes it)
  --drop-rate P          each selected peer vanishes mid-round with probability P (seeded)
  --malicious M          M peers attack (needs --in-process); --attack NAME: scale (x100), signflip, noise, or
                         from the literature, colluding and knowing the job's aggregation spec: alie, ipm, ipm10
                         (eps 10), minmax, minsum, copies (Sybils tuned to the spec), drift (toward a hidden
                         direction), backdoor (a trigger phrase in their data), inflate (ipm with a 1e6 sample claim);
                         a peer sees no other update before sending, so these craft from the colluders' own training
                         (the -blind names say so: alie-blind, ipm-blind, minmax-blind, minsum-blind)
                         in a role: aggregator-garbage (its results name another adapter), witness-liar (its
                         attestations all disagree); the report lists who was convicted
  --local-steps N        optimizer steps per selected peer per round (default ${DEMO.localSteps})
  --max-length L         training sequence length in tokens (default ${DEMO.maxLength})
  --limit-per-peer N     at most N training records per peer (default ${DEMO.limitPerPeer ?? 'all'})
More: --lr X, --batch-size N, --micro-batch N, --rank R, --deadline SECONDS, --samples N (answers shown),
      --model PATH, --data FILE, --trainer real|fake (fake: no learning, protocol only, needs --in-process).`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    strings: ['peers', 'rounds', 'per-round', 'seed', 'out', 'partition', 'alpha', 'aggregation', 'preset',
      'kill-aggregator-at', 'drop-rate',
      'malicious', 'attack', 'local-steps', 'max-length', 'limit-per-peer', 'lr', 'batch-size', 'micro-batch', 'rank',
        'deadline', 'samples',
      'model', 'data', 'trainer'],
    booleans: ['in-process', 'baselines']
  })
  const num = (name: string): number | undefined => {
    const v = f.strings.get(name)
    if (v === undefined) return undefined
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n)) throw new CliError(`--${name} must be a number, got '${v}'`, 2)
    return n
  }
  const preset = f.strings.get('preset')
  if (preset !== undefined && preset !== 'paper' && preset !== 'demo') {
    throw new CliError(`--preset must be paper or demo, got '${preset}'`, 2)
  }
  let config: SimConfig
  try {
    const rank = num('rank')
    config = resolveConfig({
      preset: preset as SimConfig['preset'] | undefined,
      peers: num('peers'),
      rounds: num('rounds'),
      perRound: num('per-round'),
      inProcess: f.booleans.has('in-process'),
      seed: num('seed'),
      out: f.strings.get('out'),
      baselines: f.booleans.has('baselines'),
      partition: f.strings.get('partition') as SimConfig['partition'] | undefined,
      alpha: num('alpha'),
      aggregation: f.strings.get('aggregation') as SimConfig['aggregation'] | undefined,
      killAggregatorAt: num('kill-aggregator-at'),
      dropRate: num('drop-rate'),
      malicious: num('malicious'),
      attack: f.strings.get('attack') as SimConfig['attack'] | undefined,
      localSteps: num('local-steps'),
      maxLength: num('max-length'),
      limitPerPeer: num('limit-per-peer'),
      learningRate: num('lr'),
      batchSize: num('batch-size'),
      microBatch: num('micro-batch'),
      deadlineSeconds: num('deadline'),
      samples: num('samples'),
      modelPath: f.strings.get('model'),
      dataPath: f.strings.get('data'),
      trainer: f.strings.get('trainer') as SimConfig['trainer'] | undefined,
      ...(rank !== undefined ? { lora: { ...DEMO.lora, r: rank, alpha: 2 * rank } } : {})
    })
  } catch (err) {
    if (err instanceof SimConfigError) throw new CliError(err.message, 2)
    throw err
  }
  const t0 = Date.now()
  const { report, tables } = await runSimulation(config)
  const problems = validateReport(report)
  if (problems.length > 0) throw new CliError(`internal error: the report does not match the format: ${problems[0]}`)
  console.log('\n' + tables)
  console.log(`\ndone in ${((Date.now() - t0) / 1000).toFixed(0)} ` +
    `s${config.out !== undefined ? `; report: ${config.out}/report.json` : ''}`)
  return 0
}
