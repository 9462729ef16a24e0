// Issue 5 in training, small: 8 peers on stories260K/Dolly, 2 of them sending updates scaled x100 every
// round; the robust default's held-out loss stays within 5% of the clean run (bench/poisoning: the full
// version with sign flips and FedAvg's figures).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runPoisoning } from '../../sim/poisoning.ts'

test('robust default under a x100 scaling attack by 2 of 8 peers stays within 5% of the clean run',
  { timeout: 150_000 }, async () => {
  const r = await runPoisoning({ rounds: 2, localSteps: 4, maxLength: 128, limitPerPeer: 60, attacks: ['scale'],
    fedavg: false })
  const scale = r.attacks.scale!
  assert.ok(r.clean.robust.evalLoss < r.base, 'the clean federation learns')
  assert.ok(Math.abs(scale.robustVsCleanPercent) <= 5,
    `robust under attack ${scale.robust.evalLoss} vs clean ${r.clean.robust.evalLoss}`)
  assert.ok(scale.robust.excludedMalicious >= 2, 'the attackers were excluded')
})
