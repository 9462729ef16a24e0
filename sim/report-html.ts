// DIR/report.html: the simulation's report as one page that opens offline (no script, no fetch, the charts
// inline): settings, the printed tables, the held-out loss per round and the category mix, every round with
// its aggregator, trainers and exclusions, the faults and the peers. Pure: report in, HTML out.
import type { RoundReport, SimulationReport } from './report.ts'

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

const num = (x: number | undefined, d: number): string =>
  typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–'

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px 24px 40px;
  color: #1d2430; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin: 26px 0 8px; border-bottom: 1px solid #dde3ec; }
.dim { color: #6b7786; } .mono { font-family: ui-monospace, monospace; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eceff3; font-size: 13px; vertical-align: top; }
th { background: #eef1f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.excluded { color: #b23b3b; } .failover { color: #b87410; }
pre { background: #f5f6f8; padding: 10px; overflow-x: auto; font-size: 12px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; } dt { color: #6b7786; } dd { margin: 0; }
.charts svg { max-width: 100%; height: auto; display: block; margin: 8px 0; }
`

export interface ReportPage {
  readonly report: SimulationReport
  /** tables.txt, as the command printed it */
  readonly tables: string
  readonly lossSvg: string
  readonly mixSvg: string
}

function roundRow (x: RoundReport): string {
  const failover = (x.attempt ?? 0) > 0 ? ` <span class="failover">(failover ${x.attempt})</span>` : ''
  return [
    `<tr data-round="${x.round}">`,
    `<td class="num">${x.round}</td>`,
    `<td class="mono aggregator">${esc(x.aggregator)}${failover}</td>`,
    `<td class="mono">${x.included.map(esc).join(', ')} `,
    `<span class="dim">(${x.included.length} / ${x.selected.length})</span></td>`,
    `<td class="excluded">${x.excluded.map((e) => `${esc(e.peer)}: ${esc(e.reason)}`).join('<br>')}</td>`,
    `<td class="num">${num(x.seconds, 1)}</td><td class="num">${num(x.bytes / 1e6, 2)}</td>`,
    `<td class="num train-loss">${num(x.trainLoss, 4)}</td><td class="num eval-loss">${num(x.evalLoss, 4)}</td></tr>`
  ].join('')
}

function settingsList (r: SimulationReport): string {
  const c = r.config
  const settings: Array<[string, unknown]> = [
    ['peers', c.peers], ['rounds', c.rounds], ['trainers per round', c.perRound], ['partition', c.partition],
    ['aggregation', c.aggregation], ['model', c.model], ['seed', c.seed],
    ['peers run', c.inProcess === true ? 'in one process' : 'one process each'],
    ['held-out loss', `${num(r.base.evalLoss, 4)} (base) → ${num(r.final.evalLoss, 4)} (final)`],
    ['final adapter', r.final.adapter + (r.final.hash !== undefined ? ` (sha256 ${r.final.hash.slice(0, 16)}…)` : '')]
  ]
  if (r.seconds !== undefined) settings.push(['wall time', `${num(r.seconds, 1)} s`])
  return settings.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(String(v))}</dd>`).join('')
}

function exclusionItems (r: SimulationReport): string {
  const items = r.rounds.flatMap((x) => x.excluded.map((e) => `<li data-round="${x.round}">round ${x.round}: ` +
    `<span class="mono">${esc(e.peer)}</span> excluded: ${esc(e.reason)}</li>`))
  for (const k of r.faults?.killed ?? []) {
    items.push(`<li>round ${k.round}: ${esc(k.peer)} stopped (${esc(k.why)})</li>`)
  }
  const malicious = r.faults?.malicious ?? []
  if (malicious.length > 0) {
    const attack = r.faults?.attack !== undefined ? ` (attack: ${esc(r.faults.attack)})` : ''
    items.push(`<li>malicious: ${malicious.map(esc).join(', ')}${attack}</li>`)
  }
  return items.length > 0 ? items.join('\n') : '<li>none: every selected update was included</li>'
}

function peersTable (r: SimulationReport): string {
  if (r.peers === undefined || r.peers.length === 0) return ''
  const rows = r.peers.map((e) => [
    `<tr><td class="mono">${esc(e.label)}</td><td class="mono dim">${esc(e.id)}</td><td class="num">${e.records}</td>`,
    `<td>${Object.entries(e.categories).map(([k, v]) => `${esc(k)} ${v}`).join(', ')}</td>`,
    `<td>${e.malicious === true ? 'malicious' : ''}</td></tr>`
  ].join(''))
  return `<h2>Peers</h2>
<table id="peers"><thead><tr><th>peer</th><th>id</th><th>records</th><th>categories</th><th></th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`
}

export function reportHtml (p: ReportPage): string {
  const r = p.report
  const c = r.config
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>fedit simulation: ${c.peers} peers, ${c.rounds} rounds</title>
<style>${STYLE}</style>
</head>
<body>
<h1>fedit simulation report</h1>
<div class="dim">${c.peers} peers, ${c.rounds} rounds, ${c.perRound} per round, ${esc(String(c.partition))},
${esc(String(c.aggregation))}</div>
<h2>Settings</h2>
<dl id="settings">${settingsList(r)}</dl>
<h2>Loss</h2>
<div class="charts" id="loss-chart">${p.lossSvg}</div>
<h2>Rounds</h2>
<table id="rounds">
<thead><tr><th>round</th><th>aggregator</th><th>included (of selected)</th><th>excluded (why)</th>
<th>seconds</th><th>MB</th>
<th>train loss</th><th>held-out loss</th></tr></thead>
<tbody>
${r.rounds.map(roundRow).join('\n')}
</tbody>
</table>
<h2>Exclusions and faults</h2>
<ul id="exclusions">
${exclusionItems(r)}
</ul>
<h2>Category mix</h2>
<div class="charts" id="mix-chart">${p.mixSvg}</div>
${peersTable(r)}
<h2>Tables</h2>
<pre id="tables">${esc(p.tables)}</pre>
</body>
</html>
`
}
