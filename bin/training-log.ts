// A `fedit peer` log line while its own round trains (step, loss, tokens/s, time left), at most one every
// `everyMs`: a long round on a big model is otherwise silent between "training" and "trained".
import type { EventEmitter } from 'node:events'
import type { PeerEvents } from '../node/types.ts'
import { RoundStage } from '../node/round-stage.ts'

export function logTrainingProgress (events: EventEmitter<PeerEvents>, log: (line: string) => void,
  everyMs = 10_000, now: () => number = Date.now): () => void {
  let startedAt = now()
  let lastLine = -Infinity
  const onStage = (s: RoundStage): void => {
    if (s === RoundStage.Training) { startedAt = now(); lastLine = startedAt }
  }
  const onStep = (s: PeerEvents['trainStep'][0]): void => {
    const t = now()
    // the last step is followed at once by the round's "trained" line
    if (s.step >= s.totalSteps || t - lastLine < everyMs) return
    lastLine = t
    const elapsed = (t - startedAt) / 1000
    const eta = elapsed / s.step * (s.totalSteps - s.step)
    log(`round ${s.round}: training step ${s.step}/${s.totalSteps}, loss ${s.loss.toFixed(4)}, ` +
      `${Math.round(s.tokensPerSec)} tok/s, ETA ${eta.toFixed(0)} s`)
  }
  events.on('stage', onStage)
  events.on('trainStep', onStep)
  return () => {
    events.off('stage', onStage)
    events.off('trainStep', onStep)
  }
}
