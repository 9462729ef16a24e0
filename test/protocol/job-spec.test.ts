import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseJobSpec, jobIdOf, JobSpecError } from '../../protocol/job-spec.ts'
import { canonicalJson } from '../../protocol/canonical-json.ts'
import { FEDAVG, ROBUST_DEFAULT } from '../../protocol/aggregation-spec.ts'

const base = {
  name: 'demo',
  baseModel: { id: 'stories260K', sha256: 'a'.repeat(64) },
  lora: { r: 4, alpha: 8, dropout: 0, targetModules: ['v_proj', 'q_proj'] },
  recipe: { learningRate: 1e-3, batchSize: 4, localSteps: 10, maxLength: 128, seed: 1 },
  rounds: 3,
  peersPerRound: 3
}

test('defaults are filled in and the id ignores key order, formatting and module order', () => {
  const a = parseJobSpec(JSON.stringify(base))
  assert.equal(a.minPeers, 3)
  assert.deepEqual(a.aggregation, FEDAVG)
  assert.deepEqual(a.lora.targetModules, ['q_proj', 'v_proj'])
  const reordered = { peersPerRound: 3, rounds: 3, recipe: base.recipe,
    lora: { ...base.lora, targetModules: ['q_proj', 'v_proj'] }, baseModel: base.baseModel, name: 'demo',
    aggregation: 'fedavg' }
  const b = parseJobSpec(JSON.stringify(reordered, null, 2))
  assert.equal(jobIdOf(a), jobIdOf(b))
  assert.match(jobIdOf(a), /^[0-9a-f]{64}$/)
  assert.notEqual(jobIdOf(a), jobIdOf(parseJobSpec(JSON.stringify({ ...base, rounds: 4 }))))
})

test('a recipe may pin the compute precision; absent, it stays out of the spec (and of the job id)', () => {
  const pinned = { ...base, recipe: { ...base.recipe, precision: 'fp16' } }
  assert.equal(parseJobSpec(JSON.stringify(pinned)).recipe.precision, 'fp16')
  assert.equal('precision' in parseJobSpec(JSON.stringify(base)).recipe, false)
})

test('named aggregation rules expand to their spec', () => {
  assert.deepEqual(parseJobSpec(JSON.stringify({ ...base, aggregation: 'robust' })).aggregation, ROBUST_DEFAULT)
})

test('bad fields give one-line errors naming the source and field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base, lora: { ...base.lora, r: 0 } }, /job\.json: "lora\.r" must be an integer/],
    [{ ...base, lora: { ...base.lora, targetModules: ['qq'] } }, /"lora\.targetModules\[0\]"/],
    [{ ...base, recipe: { ...base.recipe, localEpochs: 1 } }, /exactly one of localSteps, localEpochs/],
    [{ ...base, baseModel: { id: 'x', sha256: 'zz' } }, /"baseModel\.sha256" must be 64/],
    [{ ...base, extra: 1 }, /"extra" is not a known field/],
    [{ ...base, recipe: { ...base.recipe, precision: 'half' } }, /"recipe\.precision" must be one of auto, fp32/],
    [{ ...base, aggregation: { space: 'factors', combine: { kind: 'trimmed-mean', beta: 0.7 } } },
      /"aggregation\.combine\.beta"/]
  ]
  for (const [spec, re] of cases) {
    assert.throws(() => parseJobSpec(JSON.stringify(spec)), (e: Error) => e instanceof JobSpecError &&
      re.test(e.message) && !e.message.includes('\n'))
  }
})

test('a JSON syntax error names the line', () => {
  assert.throws(() => parseJobSpec('{\n"name": "x",\n oops\n}', 'jobs/a.json'), /jobs\/a\.json:3: not valid JSON/)
})

test('canonical JSON sorts keys at every depth', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 'x' }], c: null } }),
    '{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}')
  assert.throws(() => canonicalJson({ x: Number.NaN }), RangeError)
})

test('the threat parameter: robust tolerates f 0.25 and refuses a round size that cannot hold it, in one line', () => {
  assert.equal(parseJobSpec(JSON.stringify({ ...base, aggregation: 'robust' })).aggregation.f, 0.25)
  for (const peersPerRound of [1, 2]) {
    const text = JSON.stringify({ ...base, peersPerRound, minPeers: 2, aggregation: 'robust' })
    assert.throws(() => parseJobSpec(text), (e: Error) => e instanceof JobSpecError && !e.message.includes('\n') &&
      /job\.json: "peersPerRound" \d cannot hold the aggregation's threat: tolerating f = 0.25 \(1 hostile of \d\) needs at least 3 trainers per round/.test(e.message))
  }
  assert.match(String((() => {
    try {
      parseJobSpec(JSON.stringify({ ...base, peersPerRound: 2, aggregation: 'robust' }))
    } catch (e) { return (e as Error).message }
  })()),
    /two disagreeing updates exclude each other/)
  assert.equal(parseJobSpec(JSON.stringify({ ...base, peersPerRound: 2 })).aggregation, FEDAVG) // no threat, no refusal
  const custom = { space: 'factors', combine: { kind: 'trimmed-mean', beta: 0.1 }, f: 0.3 }
  assert.equal(parseJobSpec(JSON.stringify({ ...base, peersPerRound: 10, aggregation: custom })).aggregation.f, 0.3)
  assert.throws(() => parseJobSpec(JSON.stringify({ ...base, peersPerRound: 4, aggregation: custom })),
    /"peersPerRound" 4 .*\(2 hostile of 4\) needs at least 5 trainers per round: the hostile could tie or outnumber the honest/)
  assert.throws(() => parseJobSpec(JSON.stringify({ ...base, aggregation: { ...custom, f: 0.5 } })),
    /"aggregation\.f" must be a number in \[0, 0\.5\)/)
})

test('the new filters and spread bounds round-trip through job.json', () => {
  const agg = {
    space: 'factors', clip: { kind: 'median', multiple: 3, mads: 3 }, combine: { kind: 'trimmed-mean', beta: 0.2 },
      f: 0.25,
    filters: [{ kind: 'norm', multiple: 3, minMultiple: 0.1 }, { kind: 'duplicate', maxCosine: 0.99 },
      { kind: 'cosine', maxDistance: 1, mads: 3 },
      { kind: 'history', maxCosine: 0.5, minRounds: 1 }]
  }
  assert.deepEqual(parseJobSpec(JSON.stringify({ ...base, aggregation: agg })).aggregation,
    { ...ROBUST_DEFAULT, ...agg, allowMixedRanks: false })
  assert.throws(() => parseJobSpec(JSON.stringify({ ...base,
    aggregation: { ...agg, filters: [{ kind: 'history', maxCosine: 0.5 }] } })),
    /"aggregation\.filters\[0\]\.minRounds"/)
  assert.throws(() => parseJobSpec(JSON.stringify({ ...base,
    aggregation: { ...agg, filters: [{ kind: 'duplicate', maxCosine: 2 }] } })),
    /"aggregation\.filters\[0\]\.maxCosine" must be a number in \(0, 1\]/)
})
