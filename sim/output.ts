// The --out folder: report.json, the final adapter (PEFT folder), the plots (SVG), the printed tables and
// report.html (all of them in one page that opens offline).
// Every file is written atomically.
import { join } from 'node:path'
import { writeFileAtomicSync } from '../trainer/atomic-write.ts'
import type { SimulationReport } from './report.ts'
import { lineChartSvg, stackedBarSvg } from './plot-svg.ts'
import type { Series } from './plot-svg.ts'
import { reportHtml } from './report-html.ts'

export const FILES = { report: 'report.json', adapter: 'adapter', lossPlot: 'loss.svg', mixPlot: 'category-mix.svg',
  tables: 'tables.txt', html: 'report.html' } as const

/** The held-out loss per round: federated against base and (when present) the baselines (pure). */
export function lossChart (r: SimulationReport): string {
  const R = r.config.rounds
  const flat = (label: string, y: number): Series => ({ label, points: [[0, y], [R, y]], dashed: true })
  const series: Series[] = [{ label: 'federated', points: [[0, r.base.evalLoss],
    ...r.rounds.map((x): [number, number] => [x.round, x.evalLoss])] }, flat('base', r.base.evalLoss)]
  if (r.baselines !== undefined) {
    const c = r.baselines.centralized
    series.push(c.curve !== undefined && c.curve.length > 0
      ? { label: 'centralized', points: [[0, r.base.evalLoss], ...c.curve.map((y, i): [number, number] => [i + 1, y])] }
      : flat('centralized', c.evalLoss))
    r.baselines.local.forEach((l, i) => series.push(flat(`Local-${i + 1} (${l.peer})`, l.evalLoss)))
  }
  return lineChartSvg(`Held-out loss per round (${r.config.peers} ` +
    `peers, ${r.config.perRound}/round, ${r.config.partition})`, 'round', 'held-out loss (token cross-entropy)', series)
}

export function mixChart (r: SimulationReport): string {
  const peers = r.peers ?? []
  const cats = [...new Set(peers.flatMap((p) => Object.keys(p.categories)))].sort()
  return stackedBarSvg(`Category mix per peer (${r.config.partition})`,
    peers.map((p) => ({ label: p.label, counts: p.categories })), cats)
}

export function writeOutputs (dir: string, r: SimulationReport, tables: string): void {
  const lossSvg = lossChart(r)
  const mixSvg = mixChart(r)
  writeFileAtomicSync(join(dir, FILES.lossPlot), lossSvg)
  writeFileAtomicSync(join(dir, FILES.mixPlot), mixSvg)
  writeFileAtomicSync(join(dir, FILES.tables), tables + '\n')
  writeFileAtomicSync(join(dir, FILES.html), reportHtml({ report: r, tables, lossSvg, mixSvg }))
  // last: its presence means the run finished
  writeFileAtomicSync(join(dir, FILES.report), JSON.stringify(r, null, 2) + '\n')
}
