// The progress display of long CLI work: a cli-progress bar on a terminal (step, loss, tokens/s, ETA),
// plain periodic lines elsewhere (logs, CI), so a user always sees the work moving.
import cliProgress from 'cli-progress'

export interface ProgressUpdate { step: number, loss?: number, tokensPerSec?: number, note?: string }

export interface Progress {
  update: (u: ProgressUpdate) => void
  stop: () => void
}

function fmt (x: number | undefined, digits: number): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits)
}

export function createProgress (label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY === true && process.env.CI !== 'true') {
    const bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] {value}/{total} | loss {loss} | {tps} tok/s | ETA {eta_formatted} {note}`,
      stream,
      hideCursor: true,
      etaBuffer: 20
    }, cliProgress.Presets.shades_classic)
    bar.start(total, 0, { loss: '-', tps: '-', note: '' })
    return {
      update: (u) => bar.update(u.step, { loss: fmt(u.loss, 4), tps: fmt(u.tokensPerSec, 0), note: u.note ?? '' }),
      stop: () => bar.stop()
    }
  }
  const t0 = Date.now()
  let lastPrint = 0
  return {
    update: (u) => {
      const now = Date.now()
      if (now - lastPrint < 2000 && u.step < total) return
      lastPrint = now
      const elapsed = (now - t0) / 1000
      const eta = u.step > 0 ? elapsed / u.step * (total - u.step) : NaN
      stream.write(`${label} ${u.step}/${total} loss ${fmt(u.loss, 4)} ${fmt(u.tokensPerSec, 0)} tok/s ETA ${fmt(eta, 0)}s${u.note !== undefined ? ' ' + u.note : ''}\n`)
    },
    stop: () => {}
  }
}

/** A bar for counted work without a loss (records tokenized, say): count, rate and ETA. */
export function createCountProgress (label: string, total: number, unit: string, stream: NodeJS.WriteStream = process.stderr): { update: (done: number) => void, stop: () => void } {
  const t0 = Date.now()
  const rate = (done: number): string => fmt(done / Math.max(1e-3, (Date.now() - t0) / 1000), 0)
  if (stream.isTTY === true && process.env.CI !== 'true') {
    const bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
      stream,
      hideCursor: true
    }, cliProgress.Presets.shades_classic)
    bar.start(total, 0, { rate: '-' })
    return { update: (done) => bar.update(done, { rate: rate(done) }), stop: () => bar.stop() }
  }
  let lastPrint = 0
  return {
    update: (done) => {
      const now = Date.now()
      if (now - lastPrint < 2000 && done < total) return
      lastPrint = now
      const eta = done > 0 ? (now - t0) / 1000 / done * (total - done) : NaN
      stream.write(`${label} ${done}/${total} ${unit} ${rate(done)} ${unit}/s ETA ${fmt(eta, 0)}s\n`)
    },
    stop: () => {}
  }
}

/**
 * Runs `work` with a count bar when `total` reaches `atLeast` (smaller work finishes before a bar would say
 * anything); `work` gets the bar's update, or nothing.
 */
export async function withCountProgress<T> (label: string, total: number, unit: string, atLeast: number, work: (update?: (done: number) => void) => Promise<T> | T): Promise<T> {
  if (total < atLeast) return await work()
  const bar = createCountProgress(label, total, unit)
  try {
    return await work(bar.update)
  } finally {
    bar.stop()
  }
}
