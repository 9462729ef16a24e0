// A strict reader of Prometheus' text exposition format (version 0.0.4) for the tests: every sample line
// must parse, every sample must follow a # TYPE of its family.
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Scrape {
  readonly samples: readonly Sample[]
  readonly types: ReadonlyMap<string, string>
  /** the value of `name` whose labels include `labels` (undefined when none, an error when several) */
  value: (name: string, labels?: Readonly<Record<string, string>>) => number | undefined
  all: (name: string) => Sample[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y

export function parsePromText (text: string): Scrape {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
      if (m !== null) types.set(m[1]!, m[2]!)
      else if (!/^# HELP \S+/.test(line)) throw new Error(`line ${i + 1}: bad comment: ${line}`)
      return
    }
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`line ${i + 1}: not a sample: ${line}`)
    const labels: Record<string, string> = {}
    if (m[2] !== undefined && m[2] !== '') {
      LABEL.lastIndex = 0
      while (LABEL.lastIndex < m[2].length) {
        const l = LABEL.exec(m[2])
        if (l === null) throw new Error(`line ${i + 1}: bad labels: ${m[2]}`)
        labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
      }
    }
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3])
    if (Number.isNaN(v) && m[3] !== 'NaN') throw new Error(`line ${i + 1}: bad value: ${line}`)
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '')
    if (!types.has(m[1]!) && !types.has(family)) throw new Error(`line ${i + 1}: ${m[1]} has no # TYPE`)
    samples.push({ name: m[1]!, labels, value: v })
  })
  const all = (name: string): Sample[] => samples.filter((s) => s.name === name)
  return {
    samples,
    types,
    all,
    value (name, want = {}) {
      const hits = all(name).filter((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v))
      if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(want)}: ${hits.length} samples`)
      return hits[0]?.value
    }
  }
}
