import { test } from 'node:test'
import assert from 'node:assert/strict'
import { corruptUpdate, SCALE_FACTOR } from '../../sim/attack-trainer.ts'
import type { Adapter } from '../../trainer/lora/adapter.ts'
import { parsePeerLine } from '../../sim/fleet-processes.ts'

const ad = (v: number[]): Adapter => ({ config: { r: 1, alpha: 1, dropout: 0, targetModules: ['q_proj'] },
  tensors: new Map([['t', { shape: [v.length], data: Float32Array.from(v) }]]) })

test('attacks corrupt the delta from the base', () => {
  const base = ad([1, 1]); const trained = ad([2, 0])
  assert.deepEqual([...corruptUpdate('scale', base, trained, 1).tensors.get('t')!.data],
    [1 + SCALE_FACTOR, 1 - SCALE_FACTOR])
  assert.deepEqual([...corruptUpdate('signflip', base, trained, 1).tensors.get('t')!.data], [0, 2])
  const noisy = corruptUpdate('noise', base, trained, 1).tensors.get('t')!.data
  assert.ok(noisy.every(Number.isFinite) && (noisy[0] !== 2 || noisy[1] !== 0))
})

test('peer log lines are understood', () => {
  assert.deepEqual(parsePeerLine('12:00:00 peer 12D3KooWabc in job 1234… at round 0/3; listening on x'),
    { kind: 'started', peerId: '12D3KooWabc' })
  assert.deepEqual(parsePeerLine('12:00:01 round 2 (failover 1): aggregating; selected abc123,def456'),
    { kind: 'aggregating', round: 2, attempt: 1, selected: ['abc123', 'def456'] })
  assert.deepEqual(parsePeerLine('12:00:02 round 2: aggregator=abc123 (me) included=2/2 trainLoss=1.0000 1.0s 0.10MB ' +
    'global=0123'), { kind: 'result', round: 2, attempt: 0, mine: true })
  assert.deepEqual(parsePeerLine('12:00:02 round 2: aggregator=abc123 included=2/2 trainLoss=1.0000'),
    { kind: 'result', round: 2, attempt: 0, mine: false })
  assert.deepEqual(parsePeerLine('12:00:02 round 2 (failover 3): aggregator=abc123 included=2/2 trainLoss=1.0000'),
    { kind: 'result', round: 2, attempt: 3, mine: false })
  assert.deepEqual(parsePeerLine('12:00:03 round 3: trained on 80 examples in 2.5 s, loss 3.2100, 4000 tok/s'),
    { kind: 'trained', round: 3, samples: 80, trainLoss: 3.21 })
  assert.deepEqual(parsePeerLine('anything else'), { kind: 'other' })
})
