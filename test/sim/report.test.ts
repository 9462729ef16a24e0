import { test } from 'node:test'
import assert from 'node:assert/strict'
import { validateReport } from '../../sim/report.ts'
import { lineChartSvg, stackedBarSvg } from '../../sim/plot-svg.ts'

const good = {
  config: { peers: 4, rounds: 1, perRound: 2, partition: 'iid', aggregation: 'fedavg', seed: 1, model: 'stories260K' },
  base: { evalLoss: 3, byCategory: { closed_qa: 3 } },
  rounds: [{ round: 1, aggregator: 'p1', selected: ['p1', 'p2'], included: ['p1'],
    excluded: [{ peer: 'p2', reason: 'late' }], seconds: 1, bytes: 10, trainLoss: 2, evalLoss: 2.5,
    byCategory: { closed_qa: 2.5 } }],
  final: { evalLoss: 2.5, byCategory: { closed_qa: 2.5 }, adapter: 'out/adapter' }
}

test('a well-formed report validates; each broken field is named', () => {
  assert.deepEqual(validateReport(good), [])
  const bad = structuredClone(good) as Record<string, any>
  bad.rounds[0].evalLoss = NaN
  bad.config.peers = 'four'
  delete bad.final.adapter
  bad.baselines = { centralized: { evalLoss: 1, byCategory: {} },
    local: [{ peer: 'p1', categories: 'x', evalLoss: 1, byCategory: {} }] }
  assert.deepEqual(validateReport(bad).sort(), ['baselines.local[0].categories: expected an array of strings',
    'config.peers: expected an integer', 'final.adapter: expected a non-empty string',
    'rounds[0].evalLoss: expected a finite number'])
})

test('charts are well-formed SVG with escaped labels', () => {
  const svg = lineChartSvg('loss <held-out>', 'round', 'loss',
    [{ label: 'fed', points: [[0, 3], [1, 2.5]] }, { label: 'central', points: [[0, 2], [1, 2]], dashed: true }])
  assert.match(svg, /^<svg[\s\S]*<\/svg>$/)
  assert.match(svg, /loss &lt;held-out&gt;/)
  const bars = stackedBarSvg('mix', [{ label: 'p0', counts: { a: 3, b: 1 } }], ['a', 'b'])
  assert.equal((bars.match(/<rect x=/g) ?? []).length, 1 + 2 + 2) // frame + 2 segments + 2 legend keys
})
