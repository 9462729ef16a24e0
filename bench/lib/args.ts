// What the CPU benches share: their flags, the clock they time by, and the median of their runs.
export const flagValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

export const numberFlag = (name: string, dflt: number): number => {
  const v = flagValue(name)
  return v === undefined ? dflt : Number(v)
}

export type Clock = 'wall' | 'cpu'

/** --clock wall (default) or cpu: this process's user + system CPU time, less sensitive to other people's load */
export function clockFlag (): { clock: Clock, now: () => number } {
  const clock = flagValue('clock') ?? 'wall'
  if (clock !== 'wall' && clock !== 'cpu') throw new Error(`--clock must be wall or cpu, got ${clock}`)
  const now = clock === 'wall'
    ? () => performance.now()
    : () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
  return { clock, now }
}

export const median = (t: readonly number[]): number => [...t].sort((a, b) => a - b)[t.length >> 1]!
