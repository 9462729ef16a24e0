// ROUGE-L (Lin, 2004) on lower-cased word tokens: F-measure of the longest common subsequence, as
// rouge-score's default (beta = 1), for judging generations against reference responses.

export function words (text: string): string[] {
  return text.toLowerCase().replace(/[^a-z0-9\s]/g, ' ').split(/\s+/).filter((w) => w !== '')
}

export function lcsLength (a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0
  let prev = new Uint32Array(b.length + 1)
  let cur = new Uint32Array(b.length + 1)
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1
      : Math.max(prev[j]!, cur[j - 1]!)
    ;[prev, cur] = [cur, prev]
  }
  return prev[b.length]!
}

export function rougeL (candidate: string, reference: string): { precision: number, recall: number, f: number } {
  const c = words(candidate); const r = words(reference)
  const l = lcsLength(c, r)
  if (l === 0) return { precision: 0, recall: 0, f: 0 }
  const precision = l / c.length; const recall = l / r.length
  return { precision, recall, f: 2 * precision * recall / (precision + recall) }
}
