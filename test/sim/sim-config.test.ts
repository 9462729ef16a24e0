import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveConfig, DEMO, SimConfigError, jobJson, peerLabel } from '../../sim/sim-config.ts'
import { validateJobSpec } from '../../protocol/job-spec.ts'

test('defaults, the paper preset, and overrides on top of a preset', () => {
  assert.equal(resolveConfig({}).peers, DEMO.peers)
  const p = resolveConfig({ preset: 'paper' })
  assert.deepEqual([p.peers, p.perRound, p.rounds, p.lora.r, p.learningRate, p.batchSize, p.maxLength],
    [100, 5, 20, 8, 1.5e-4, 32, 512])
  assert.equal(p.limitPerPeer, undefined)
  assert.equal(resolveConfig({ preset: 'paper', rounds: 2 }).rounds, 2)
})

test('bad settings name their flag', () => {
  const bad = (o: Parameters<typeof resolveConfig>[0], re: RegExp): void => {
    assert.throws(() => resolveConfig(o), (e: Error) => e instanceof SimConfigError && re.test(e.message))
  }
  bad({ perRound: 20 }, /^--per-round /)
  bad({ dropRate: 1 }, /^--drop-rate /)
  bad({ partition: 'x' as never }, /^--partition /)
  bad({ killAggregatorAt: 99 }, /^--kill-aggregator-at /)
  bad({ malicious: 2 }, /^--malicious .*--in-process/)
  bad({ trainer: 'fake' }, /^--trainer .*--in-process/)
})

test('the job every peer joins validates, and labels sort', () => {
  const c = resolveConfig({ inProcess: true, aggregation: 'robust' })
  const job = validateJobSpec(jobJson(c, 'stories260K', 'a'.repeat(64)))
  assert.equal(job.peersPerRound, c.perRound)
  assert.equal(job.recipe.localSteps, c.localSteps)
  assert.equal(peerLabel(3, 10), 'p03')
  assert.equal(peerLabel(7, 100), 'p07')
})

test('--aggregation robust with 2 trainers per round is refused in one line (it cannot hold its threat)', () => {
  assert.throws(() => resolveConfig({ inProcess: true, aggregation: 'robust', perRound: 2 }),
    /^SimConfigError: --per-round 2 is too few for --aggregation robust: tolerating f = 0.25 .*two disagreeing updates exclude each other/)
})
