// The tables printed at the end of a simulation (pure string formatting): held-out loss per model, overall and
// per category, with figures relative to the base model (like Shepherd's Table 3), the honest verdict on
// federated vs the baselines, and the generated responses (like Tables 4/5).

export interface LossRow { readonly name: string, readonly evalLoss: number,
  readonly byCategory: Readonly<Record<string, number>> }

const SHORT: Record<string, string> = {
  brainstorming: 'brainstorm', classification: 'classif', closed_qa: 'closed_qa', creative_writing: 'creative',
  general_qa: 'general_qa', information_extraction: 'info_extr', open_qa: 'open_qa', summarization: 'summariz'
}

function table (head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: readonly string[]): string => r.map((c, i) => i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))
    .join('  ')
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n')
}

/** Relative improvement over the base model in percent: (base - x) / base * 100 (lower loss = positive). */
export function gainPercent (base: number, x: number): number {
  return (base - x) / base * 100
}

export function lossTable (rows: readonly LossRow[], base: LossRow): string {
  const cats = Object.keys(base.byCategory).sort()
  const head = ['model', 'loss', 'vs base', ...cats.map((c) => SHORT[c] ?? c)]
  const fmtGain = (g: number): string => `${g >= 0 ? '+' : ''}${g.toFixed(1)}%`
  const body = rows.map((r) => [r.name, r.evalLoss.toFixed(4), r === base ? '-'
    : fmtGain(gainPercent(base.evalLoss, r.evalLoss)), ...cats.map((c) => r.byCategory[c]?.toFixed(3) ?? '-')])
  return table(head, body) +
    '\n(held-out loss = mean token cross-entropy of the reference responses, Dolly lines 1-80; lower is better;\n ' +
    '"vs base" = relative reduction of the loss against the untuned base model)'
}

export interface Verdict {
  readonly beatsBase: boolean
  /** per local model: federated lower than it? */
  readonly beatsLocal: Readonly<Record<string, boolean>>
  /** (federated - centralized) / centralized, percent; positive = federated worse */
  readonly gapToCentralizedPercent?: number
}

export function verdictOf (federated: LossRow, base: LossRow, locals: readonly LossRow[],
  centralized?: LossRow): Verdict {
  return {
    beatsBase: federated.evalLoss < base.evalLoss,
    beatsLocal: Object.fromEntries(locals.map((l) => [l.name, federated.evalLoss < l.evalLoss])),
    ...(centralized !== undefined
      ? { gapToCentralizedPercent: (federated.evalLoss - centralized.evalLoss) / centralized.evalLoss * 100 } : {})
  }
}

export function verdictLines (v: Verdict, federated: LossRow, base: LossRow, locals: readonly LossRow[]): string {
  const yes = (b: boolean): string => b ? 'yes' : 'NO'
  const lines = [`federated beats base: ${yes(v.beatsBase)} (${federated.evalLoss.toFixed(4)} ` +
    `vs ${base.evalLoss.toFixed(4)})`]
  for (const l of locals) {
    lines.push(`federated beats ${l.name}: ${yes(v.beatsLocal[l.name] ?? false)} (${federated.evalLoss.toFixed(4)} ` +
      `vs ${l.evalLoss.toFixed(4)})`)
  }
  if (v.gapToCentralizedPercent !== undefined) {
    lines.push(`federated vs ` +
      `centralized: ${v.gapToCentralizedPercent >= 0 ? '+' : ''}${v.gapToCentralizedPercent.toFixed(1)}% loss`)
  }
  return lines.join('\n')
}

export interface ResponseRow { readonly instruction: string, readonly category: string, readonly reference: string,
  readonly answers: Readonly<Record<string, string>> }

export function responsesTable (rows: readonly ResponseRow[], width = 100): string {
  const clip = (s: string): string => {
    const t = s.replace(/\s+/g, ' ').trim()
    return t.length > width ? t.slice(0, width - 1) + '…' : (t === '' ? '(empty)' : t)
  }
  const out: string[] = []
  rows.forEach((r, i) => {
    out.push(`[${i + 1}] (${r.category}) ${clip(r.instruction)}`)
    out.push(`    reference:    ${clip(r.reference)}`)
    for (const [m, a] of Object.entries(r.answers)) out.push(`    ${(m + ':').padEnd(13)} ${clip(a)}`)
  })
  return out.join('\n')
}
