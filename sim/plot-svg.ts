// Dependency-free SVG charts for the simulation's output folder: a line chart (held-out loss per round,
// federated against the baselines) and a stacked bar chart (each peer's category mix, like Shepherd's Fig. 2).

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f',
  '#bab0ac']

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function niceTicks (lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) { hi = lo + 1 }
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

export interface Series { label: string, points: Array<[number, number]>, dashed?: boolean }

/** A line chart; series with a single point spanning all x (a baseline) can be given as two points. */
export function lineChartSvg (title: string, xLabel: string, yLabel: string, series: readonly Series[], width = 720,
  height = 420): string {
  const m = { l: 64, r: 180, t: 40, b: 50 }
  const pts = series.flatMap((s) => s.points)
  const xs = pts.map((p) => p[0]); const ys = pts.map((p) => p[1])
  const x0 = Math.min(...xs, 0); const x1 = Math.max(...xs, 1)
  let y0 = Math.min(...ys); let y1 = Math.max(...ys)
  const pad = (y1 - y0) * 0.08 || 0.1
  y0 -= pad; y1 += pad
  const W = width - m.l - m.r; const H = height - m.t - m.b
  const sx = (x: number): number => m.l + (x - x0) / (x1 - x0 || 1) * W
  const sy = (y: number): number => m.t + (1 - (y - y0) / (y1 - y0 || 1)) * H
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${m.l}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`]
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>`,
      `<text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`)
  }
  for (const t of niceTicks(x0, x1, Math.min(10, Math.max(1, x1 - x0)))) {
    if (!Number.isInteger(t)) continue
    parts.push(`<text x="${sx(t)}" y="${m.t + H + 18}" text-anchor="middle">${t}</text>`)
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W}" height="${H}" fill="none" stroke="#333"/>`,
    `<text x="${m.l + W / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${m.t + H / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`)
  series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length]!
    const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ')
    parts.push(`<path d="${d}" fill="none" stroke="${c}" ` +
      `stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`)
    if (s.dashed !== true) {
      for (const p of s.points) {
        parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" fill="${c}"/>`)
      }
    }
    const ly = m.t + 10 + i * 18
    parts.push(`<line x1="${m.l + W + 12}" x2="${m.l + W + 36}" y1="${ly}" y2="${ly}" stroke="${c}" ` +
      `stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${m.l + W + 42}" y="${ly + 4}">${esc(s.label)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

/** Stacked bars: one bar per row (peer), segments per category count. */
export function stackedBarSvg (title: string,
  rows: ReadonlyArray<{ label: string, counts: Readonly<Record<string, number>> }>, categories: readonly string[],
  width = 760, height = 420): string {
  const m = { l: 64, r: 190, t: 40, b: 60 }
  const W = width - m.l - m.r; const H = height - m.t - m.b
  const max = Math.max(1, ...rows.map((r) => categories.reduce((a, c) => a + (r.counts[c] ?? 0), 0)))
  const bw = W / Math.max(1, rows.length)
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${m.l}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`]
  for (const t of niceTicks(0, max)) {
    const y = m.t + H - t / max * H
    parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${t}</text>`)
  }
  rows.forEach((r, i) => {
    let acc = 0
    categories.forEach((c, j) => {
      const v = r.counts[c] ?? 0
      if (v <= 0) return
      const h = v / max * H
      parts.push(`<rect x="${(m.l + i * bw + bw * 0.1).toFixed(1)}" y="${(m.t + H - acc - h).toFixed(1)}" ` +
        `width="${(bw * 0.8).toFixed(1)}" height="${h.toFixed(1)}" ` +
        `fill="${PALETTE[j % PALETTE.length]}"><title>${esc(`${r.label} ${c}: ${v}`)}</title></rect>`)
      acc += h
    })
    if (rows.length <= 40) {
      parts.push(`<text x="${(m.l + i * bw + bw / 2).toFixed(1)}" y="${m.t + H + 16}" text-anchor="middle" ` +
        `font-size="10">${esc(r.label)}</text>`)
    }
  })
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W}" height="${H}" fill="none" stroke="#333"/>`,
    `<text x="${m.l + W / 2}" y="${height - 12}" text-anchor="middle">peer</text>`,
    `<text transform="translate(16 ${m.t + H / 2}) rotate(-90)" text-anchor="middle">training examples</text>`)
  categories.forEach((c, j) => {
    const ly = m.t + 10 + j * 18
    parts.push(`<rect x="${m.l + W + 12}" y="${ly - 8}" width="14" height="12" fill="${PALETTE[j % PALETTE.length]}"/>`,
      `<text x="${m.l + W + 32}" y="${ly + 2}">${esc(c)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}
