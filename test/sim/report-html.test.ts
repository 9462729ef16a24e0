// report.html is built from report.json's data, some of which other peers wrote (exclusion reasons): all of
// it goes in as text.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reportHtml } from '../../sim/report-html.ts'
import type { SimulationReport } from '../../sim/report.ts'

const report: SimulationReport = {
  config: { peers: 2, rounds: 1, perRound: 2, partition: 'iid', aggregation: 'robust', seed: 1, model: 'stories260K' },
  base: { evalLoss: 4.5, byCategory: {} },
  rounds: [{
    round: 1, aggregator: 'p00', attempt: 1, selected: ['p00', 'p01'], included: ['p00'],
    excluded: [{ peer: 'p01', reason: '<script>alert(1)</script> & "more"' }],
    seconds: 2.5, bytes: 1.5e6, trainLoss: 3.25, evalLoss: 4.25, byCategory: {}
  }],
  final: { evalLoss: 4.25, byCategory: {}, adapter: 'out/adapter' },
  faults: { killed: [{ peer: 'p00', round: 1, why: 'killed after its announce' }], malicious: ['p01'], attack: 'scale' }
}

test('report.html: rounds, failover, exclusions and faults as escaped text, no script', () => {
  const tables = 'model  loss\nbase   4.5 <b>'
  const html = reportHtml({ report, tables, lossSvg: '<svg id="l"></svg>', mixSvg: '<svg id="m"></svg>' })
  assert.ok(!/<script/i.test(html), 'no script element, not even from a reason')
  assert.match(html, /p01: &lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;more&quot;/)
  assert.match(html, /<td class="mono aggregator">p00 <span class="failover">\(failover 1\)<\/span><\/td>/)
  assert.match(html, /<td class="num train-loss">3\.2500<\/td><td class="num eval-loss">4\.2500<\/td>/)
  assert.match(html, /<li>round 1: p00 stopped \(killed after its announce\)<\/li>/)
  assert.match(html, /<li>malicious: p01 \(attack: scale\)<\/li>/)
  assert.match(html, /<pre id="tables">model {2}loss\nbase {3}4\.5 &lt;b&gt;<\/pre>/)
  assert.ok(html.includes('<svg id="l"></svg>') && html.includes('<svg id="m"></svg>'), 'the charts inline')
})
