// `fedit simulate`: a bootstrap and N peers on 127.0.0.1 run federated instruction tuning on Dolly-15k, while
// this orchestrator prints progress, scores every round's global adapter on the held-out split with its own
// evaluator, injects the faults and attacks asked for, trains the baselines, and writes the report.
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { loadCheckpoint } from '../trainer/checkpoint/load.ts'
import { modelHash } from '../trainer/checkpoint/model-hash.ts'
import { loadTokenizerFor } from '../trainer/tokenizer.ts'
import { readDolly } from '../trainer/data/readers.ts'
import { splitHeldOut } from '../trainer/data/split.ts'
import { createRng, deriveSeed, shuffleInPlace } from '../trainer/rng.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { initAdapter } from '../trainer/lora/init.ts'
import { saveAdapter } from '../trainer/lora/peft-folder.ts'
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { InstructionRecord } from '../trainer/data/record.ts'
import { validateJobSpec, jobIdOf } from '../protocol/job-spec.ts'
import type { RoundInfo } from '../node/round-info.ts'
import { layoutOf } from '../node/adapter-codec.ts'
import type { SimConfig } from './sim-config.ts'
import { jobJson, peerLabel } from './sim-config.ts'
import { shareTrainingPool, pickLocalPeers, mainCategories } from './peer-data.ts'
import { createEvaluator } from './held-out-evaluator.ts'
import type { HeldOutLoss } from './held-out-evaluator.ts'
import { createSimTrainer } from './trainer-source.ts'
import { TrainerPool } from './trainer-pool.ts'
import { createAttackTrainer, createCollusion } from './attack-trainer.ts'
import { isRoleAttack } from './role-attacks.ts'
import type { RoleAttack } from './role-attacks.ts'
import { backdoorRecords } from './backdoor.ts'
import { startInProcessFleet } from './fleet-in-process.ts'
import { startProcessFleet } from './fleet-processes.ts'
import type { Fleet } from './fleet.ts'
import { baselinePlan, runBaselines } from './baselines.ts'
import { generateResponses, pickPrompts } from './responses.ts'
import { assembleReport } from './report-assembly.ts'
import type { WitnessCheck } from './report-assembly.ts'
import type { SimulationReport, PeerEntry } from './report.ts'
import { lossTable, responsesTable, verdictLines, verdictOf } from './tables.ts'
import type { LossRow } from './tables.ts'
import { FILES, writeOutputs } from './output.ts'

/** Every model is scored at the model's full context (not the training length), so all runs compare. */
const EVAL_MAX_LENGTH = 512

export class SimulationError extends Error {
  constructor (message: string) { super(message); this.name = 'SimulationError' }
}

export interface SimulationResult {
  readonly report: SimulationReport
  /** the tables printed at the end */
  readonly tables: string
}

export interface SimulationHooks {
  readonly log?: (line: string) => void
}

export async function runSimulation (c: SimConfig, hooks: SimulationHooks = {}): Promise<SimulationResult> {
  const t0 = Date.now()
  const stamp = (): string => `[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s]`
  const log = (line: string): void => { (hooks.log ?? console.log)(`${stamp()} ${line}`) }

  // ---------------------------------------------------------------- data and model
  const ckpt = loadCheckpoint(c.modelPath)
  const tok = loadTokenizerFor(c.modelPath, ckpt.config.vocabSize)
  const { test, train } = splitHeldOut(readDolly(c.dataPath).records)
  const label = (i: number): string => peerLabel(i, c.peers)
  const shares = shareTrainingPool(train, { peers: c.peers, method: c.partition, seed: c.seed, alpha: c.alpha,
    limitPerPeer: c.limitPerPeer, label })
  const malicious = new Set(shuffleInPlace(shares.map((s) => s.index), createRng(deriveSeed(c.seed, 'malicious')))
    .slice(0, c.malicious))
  const modelId = basename(c.modelPath).replace(/\.bin$/, '')
  log(`${c.peers} peers, ${c.rounds} rounds, ${c.perRound} per round, ${c.partition} split of ${train.length} Dolly ` +
    `records (held-out: ${test.length}), ` +
    `${c.aggregation}, ${c.inProcess ? 'in one process' : 'one process each'}, ${c.trainer} trainer, model ${modelId}`)
  for (const s of shares) {
    log(`  ${s.label}: ${String(s.records.length).padStart(5)} records  ${mainCategories(s.counts, 0.05).join(', ')}` +
      `${malicious.has(s.index) ? `  [malicious: ${c.attack}]` : ''}`)
  }

  const evaluator = await createEvaluator({ modelPath: c.modelPath, records: test, lora: c.lora,
    maxLength: EVAL_MAX_LENGTH, threads: 1 })
  const trainers: LocalTrainer[] = []
  // every trainer of the run (the peers', the baselines') on one worker per core at most: more workers than cores
  // only split the cores, and each holds its own train session (~0.6 GB at the paper's setting)
  const pool = new TrainerPool(Math.max(1, Math.min(c.baselines ? Math.max(c.perRound, 4) : c.perRound,
    availableParallelism())))
  const work = c.out !== undefined ? join(c.out, 'work') : mkdtempSync(join(tmpdir(), 'fedit-sim-'))
  rmSync(work, { recursive: true, force: true })
  let fleet: Fleet | undefined
  try {
    const base = await evaluator.evaluate()
    log(`base model held-out loss ${base.evalLoss.toFixed(4)}`)
    const makeTrainer = async (records: readonly InstructionRecord[]): Promise<LocalTrainer> => await createSimTrainer({
      kind: c.trainer, modelPath: c.modelPath, model: ckpt.config, records, lora: c.lora, learningRate: c.learningRate,
      batchSize: c.batchSize, microBatch: c.microBatch, localSteps: c.localSteps, maxLength: c.maxLength, threads: 1,
      pool
    })
    const job = validateJobSpec(jobJson(c, modelId, await modelHash(c.modelPath)), 'simulated job')
    const jobId = jobIdOf(job)

    // ---------------------------------------------------------------- the federation
    if (c.inProcess) {
      const collusion = createCollusion(job.aggregation, c.perRound, c.seed)
      const roleAttacks = new Map<number, RoleAttack>()
      for (const s of shares) {
        const bad = malicious.has(s.index)
        const t = await makeTrainer(bad && c.attack === 'backdoor' ? backdoorRecords(s.records, c.seed) : s.records)
        // an aggregator or witness attack trains honestly and lies in what it publishes
        if (bad && isRoleAttack(c.attack)) roleAttacks.set(s.index, c.attack)
        trainers.push(bad && !isRoleAttack(c.attack) ? createAttackTrainer(t, c.attack, collusion) : t)
      }
      // membership frozen unless the run kills peers (frozen members' crashes cost deadlines)
      const frozen = c.killAggregatorAt === undefined && c.dropRate === 0
      fleet = await startInProcessFleet({
        job, jobId, trainers, samples: shares.map((s) => s.records.length), dir: work, seed: c.seed, frozen,
        roleAttacks
      })
    } else {
      const layout = layoutOf(initAdapter(ckpt.config, c.lora, c.seed)) // the job's adapter names and shapes
      fleet = await startProcessFleet({ job, shares, test, dir: work, modelPath: c.modelPath, layout,
        log: (l) => log(l) })
    }
    const f = fleet
    const names = new Map(f.ids.map((id, i) => [id, label(i)]))
    const name = (id: string): string => names.get(id) ?? id.slice(-6)
    log(`bootstrap and ${f.ids.length} peers up on 127.0.0.1; job ${jobId.slice(0, 12)}…`)

    const killed: Array<{ peer: string, round: number, why: string }> = []
    const kill = (peer: string, round: number, why: string, delayMs = 0): void => {
      killed.push({ peer, round, why })
      setTimeout(() => { f.kill(peer).catch(() => {}) }, delayMs)
    }
    const faulted = new Set<number>() // rounds whose first announced aggregator was killed
    f.events.on('announce', (a) => {
      log(`round ${a.round}${a.attempt > 0 ? ` (failover ${a.attempt})` : ''}: aggregator ${name(a.aggregator)}, ` +
        `training: ${a.selected.map(name).join(' ')}`)
      if (c.killAggregatorAt === a.round && a.attempt === 0 && !faulted.has(a.round)) {
        faulted.add(a.round)
        log(`  fault: killing ${name(a.aggregator)}, the aggregator of round ${a.round}, right after its announce`)
        kill(a.aggregator, a.round, 'aggregator killed (--kill-aggregator-at)')
      }
      if (c.dropRate > 0) {
        for (const s of a.selected) {
          if (s === a.aggregator || !f.alive().includes(s) || killed.some((k) => k.peer === s)) continue
          const roll = createRng(deriveSeed(c.seed, `drop:${a.round}:${a.attempt}:${s}`)).next()
          // the federation needs a round's worth of live peers (and one spare when an aggregator is to be killed)
          const spare = c.killAggregatorAt !== undefined && c.killAggregatorAt > a.round ? 1 : 0
          if (roll < c.dropRate && f.alive().length - 1 >= c.perRound + spare) {
            log(`  fault: ${name(s)} vanishes mid-round (--drop-rate ${c.dropRate})`)
            kill(s, a.round, 'vanished mid-round (--drop-rate)', 300)
          }
        }
      }
    })
    f.events.on('trained', (t) => {
      log(`  ${name(t.peer)} trained round ${t.round}: ${t.samples} examples, train loss ${t.trainLoss.toFixed(4)}`)
    })
    f.events.on('note', (n) => { log(`  ${n}`) })
    // each offender once: the first peer to convict it says what for
    const convicted = new Map<string, { peer: string, kind: string, round: number }>()
    f.events.on('convicted', (x) => {
      if (convicted.has(x.offender)) return
      convicted.set(x.offender, { peer: x.offender, kind: x.kind, round: x.round })
      log(`  ${name(x.offender)} convicted in round ${x.round} (${x.kind}): evidence kept, excluded for the rest`)
    })

    const witnessed: WitnessCheck[] = []
    f.events.on('witnessed', (w) => { witnessed.push(w) })

    const results = new Map<number, { info: RoundInfo, eval: HeldOutLoss, adapter: Adapter }>()
    let evals: Promise<void> = Promise.resolve()
    const budgetMs = 90_000 + c.rounds * (3 * c.deadlineSeconds * 1000 + 15_000)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new SimulationError(`the federation did not finish ${c.rounds} rounds ` +
          `in ${Math.round(budgetMs / 1000)} s (completed: ${results.size})`))
      }, budgetMs)
      const seen = new Set<number>()
      f.events.on('result', ({ info, adapter }) => {
        const ex = info.excluded.length === 0 ? ''
          : `, excluded: ${info.excluded.map((x) => `${name(x.peer)} (${x.reason})`).join('; ')}`
        // a round reported again: the peers' fork choice kept an earlier attempt's result, which replaces the first
        const how = seen.has(info.round) ? `${info.round}: the peers switched to an earlier attempt's result, done`
          : `${info.round} done`
        seen.add(info.round)
        log(`round ${how} by ${name(info.aggregator)}${info.attempt > 0 ? ` (failover ${info.attempt})` : ''} ` +
          `in ${info.seconds.toFixed(1)} s: included ${info.included.map(name).join(' ')}${ex}; train ` +
          `loss ${info.trainLoss.toFixed(4)}`)
        evals = evals.then(async () => {
          const a = await adapter()
          const e = await evaluator.evaluate(a)
          results.set(info.round, { info, eval: e, adapter: a })
          log(`round ${info.round} held-out loss ${e.evalLoss.toFixed(4)} (base ${base.evalLoss.toFixed(4)})`)
          if (info.round >= c.rounds) { clearTimeout(timer); resolve() }
        }).catch((err: Error) => { clearTimeout(timer); reject(err) })
      })
    })
    const lags = await f.loopLag?.().catch(() => undefined)
    if (lags !== undefined) {
      log(`peer threads' event-loop lag while rounds ran: p99 ${lags.map((l) => l.p99Ms).join(' / ')} ms, max ` +
        `${lags.map((l) => l.maxMs).join(' / ')} ms (${lags.length} threads)`)
    }
    await f.stop()
    fleet = undefined
    await Promise.all(trainers.splice(0).map(async (t) => await t.close()))

    // ---------------------------------------------------------------- the final adapter, the baselines
    const last = results.get(c.rounds)!
    const finalHash = last.info.hash
    let finalAdapter = `sha256:${finalHash}`
    if (c.out !== undefined) {
      finalAdapter = join(c.out, FILES.adapter)
      saveAdapter(finalAdapter, last.adapter, { baseModel: c.modelPath })
      log(`final adapter (PEFT): ${finalAdapter}`)
    }
    let baselines: SimulationReport['baselines']
    const rowsOf = (n: string, e: HeldOutLoss): LossRow => ({ name: n, evalLoss: e.evalLoss, byCategory: e.byCategory })
    const baseRow = rowsOf('base', base)
    const fedRow = rowsOf('federated', last.eval)
    let localRows: LossRow[] = []
    let centralRow: LossRow | undefined
    let models: Array<{ name: string, adapter?: Adapter }> = [{ name: 'base' },
      { name: 'federated', adapter: last.adapter }]
    if (c.baselines) {
      const plan = baselinePlan(c.rounds, c.perRound, c.peers)
      const picks = pickLocalPeers(shares)
      log(`baselines: ${picks.length} local-only models (${plan.localCalls * c.localSteps} steps each) and ` +
        `centralized (${plan.centralCalls * c.localSteps} steps on ` +
        `all ${shares.reduce((a, s) => a + s.records.length, 0)} records)`)
      const b = await runBaselines({ plan, localSteps: c.localSteps, seed: c.seed, shares, picks, makeTrainer,
        evaluate: async (a) => await evaluator.evaluate(a), log })
      localRows = b.locals.map((l) => rowsOf(l.name, l.eval))
      centralRow = rowsOf('centralized', b.centralized.eval)
      const verdict = verdictOf(fedRow, baseRow, localRows, centralRow)
      baselines = {
        centralized: { evalLoss: b.centralized.eval.evalLoss, byCategory: { ...b.centralized.eval.byCategory },
          steps: b.centralized.steps, curve: b.centralized.curve },
        local: b.locals.map((l) => ({ peer: l.label, categories: [...l.pick.categories], evalLoss: l.eval.evalLoss,
          byCategory: { ...l.eval.byCategory }, steps: l.steps })),
        verdict
      }
      models = [...models, { name: 'centralized', adapter: b.centralized.adapter },
        { name: 'Local-1', adapter: b.locals[0]!.adapter }]
    }
    const responses = c.samples > 0 ? await generateResponses(ckpt, tok, pickPrompts(test, c.samples), models)
      : undefined

    // ---------------------------------------------------------------- report, tables, files
    const peers: PeerEntry[] = shares.map((s) => ({ label: s.label, id: f.ids[s.index]!, records: s.records.length,
      categories: { ...s.counts }, ...(malicious.has(s.index) ? { malicious: true } : {}) }))
    const report = assembleReport({
      config: c, model: modelId, base, rounds: [...results.values()], finalAdapter, finalHash, peers, killed, baselines,
      convicted: [...convicted.values()], witnessed,
      responses: responses?.map((r) => ({ ...r, answers: { ...r.answers } })), seconds: (Date.now() - t0) / 1000
    })
    const w = report.witnesses
    if (w !== undefined) {
      log(`witnesses: ${w.checksPerRound} checks a round, ${(w.bytesPerRound / 1e6).toFixed(1)} MB of updates, ` +
        `${w.secondsPerCheck.toFixed(2)} s a check: ${(100 * w.shareOfRound).toFixed(1)}% of a round's time`)
    }
    const rows = [baseRow, ...localRows, fedRow, ...(centralRow !== undefined ? [centralRow] : [])]
    const parts = [lossTable(rows, baseRow)]
    if (baselines?.verdict !== undefined) parts.push(verdictLines(baselines.verdict, fedRow, baseRow, localRows))
    if (responses !== undefined) {
      parts.push('Greedy answers to held-out instructions (Alpaca template):\n' + responsesTable(responses))
    }
    const tables = parts.join('\n\n')
    if (c.out !== undefined) {
      writeOutputs(c.out, report, tables)
      rmSync(work, { recursive: true, force: true })
      log(`wrote ${join(c.out, FILES.report)}, ${FILES.html}, ${FILES.lossPlot}, ${FILES.mixPlot}, ${FILES.tables}`)
    }
    return { report, tables }
  } finally {
    await fleet?.stop().catch(() => {})
    await Promise.all(trainers.map(async (t) => await t.close().catch(() => {})))
    await pool.close()
    await evaluator.close()
    if (c.out === undefined) rmSync(work, { recursive: true, force: true })
  }
}
