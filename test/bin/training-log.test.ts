// `fedit peer`'s log while its own round trains: a line at most every interval, with step, loss, tokens/s and
// the time left at the round's pace; none for the last step (the round's "trained" line follows it).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { logTrainingProgress } from '../../bin/training-log.ts'
import type { PeerEvents } from '../../node/types.ts'
import { RoundStage } from '../../node/round-stage.ts'
import { trainingNow } from '../../node/observe/snapshot.ts'

test('training progress lines: rate-limited, with the time left', () => {
  const events = new EventEmitter<PeerEvents>()
  const lines: string[] = []
  let t = 1_000_000
  const stop = logTrainingProgress(events, (l) => lines.push(l), 10_000, () => t)
  events.emit('stage', RoundStage.Training)
  const step = (s: number, at: number): void => {
    t = 1_000_000 + at
    events.emit('trainStep', { round: 3, step: s, totalSteps: 10, loss: 3 - s / 10, tokensPerSec: 1234.4 })
  }
  step(1, 4_000) // within the first 10 s: quiet
  step(2, 8_000)
  step(3, 12_000)
  step(4, 16_000) // 4 s after the last line
  step(5, 24_000)
  step(10, 60_000) // the last step: the "trained" line says it
  stop()
  step(6, 90_000) // unsubscribed
  assert.deepEqual(lines, [
    'round 3: training step 3/10, loss 2.7000, 1234 tok/s, ETA 28 s',
    'round 3: training step 5/10, loss 2.5000, 1234 tok/s, ETA 24 s'
  ])
})

test('fedit status: the training line shows steps and the time left', () => {
  const base = { tokensPerSecond: 0, roundsTrained: 1, activeRound: 4, startedAt: 0 }
  assert.equal(trainingNow({ ...base, step: 0 }, 5_000), '5 s, no step yet')
  assert.equal(trainingNow({ ...base, step: 2, totalSteps: 8, stepLoss: 2.5 }, 10_000),
    'step 2/8, loss 2.5000, 10 s, ETA 30 s')
})
