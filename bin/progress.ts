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
  const line = everyFewSeconds(total, stream)
  return {
    update: (u) => line(u.step,
      (eta) => `${label} ${u.step}/${total} loss ${fmt(u.loss, 4)} ${fmt(u.tokensPerSec, 0)} tok/s ` +
      `ETA ${eta}s${u.note !== undefined ? ' ' + u.note : ''}`),
    stop: () => {}
  }
}

/** Off a terminal: a line at most every 2 s, and one at the end; `text` gets the ETA in seconds. */
function everyFewSeconds (total: number,
  stream: NodeJS.WriteStream): (done: number, text: (eta: string) => string) => void {
  const t0 = Date.now()
  let lastPrint = 0
  return (done, text) => {
    const now = Date.now()
    if (now - lastPrint < 2000 && done < total) return
    lastPrint = now
    stream.write(text(fmt(done > 0 ? (now - t0) / 1000 / done * (total - done) : NaN, 0)) + '\n')
  }
}

/** A bar for counted work without a loss (records tokenized, say): count, rate and ETA. */
export function createCountProgress (label: string, total: number, unit: string,
  stream: NodeJS.WriteStream = process.stderr): { update: (done: number) => void, stop: () => void } {
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
  const line = everyFewSeconds(total, stream)
  return {
    update: (done) => line(done, (eta) => `${label} ${done}/${total} ${unit} ${rate(done)} ${unit}/s ETA ${eta}s`),
    stop: () => {}
  }
}

/**
 * Runs `work` with a count bar when `total` reaches `atLeast` (smaller work finishes before a bar would say
 * anything); `work` gets the bar's update, or nothing.
 */
export async function withCountProgress<T> (label: string, total: number, unit: string, atLeast: number,
  work: (update?: (done: number) => void) => Promise<T> | T): Promise<T> {
  if (total < atLeast) return await work()
  const bar = createCountProgress(label, total, unit)
  try {
    return await work(bar.update)
  } finally {
    bar.stop()
  }
}
