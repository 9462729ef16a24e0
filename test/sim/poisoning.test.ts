// The poisoning matrix in small, on real training: 8 peers on stories260K/Dolly, 2 of them Sybils sending
// spec-tuned copies every round (the attack that moved the previous default by +5.8% in 5 rounds). The robust
// default keeps the final held-out loss within 2% of its clean run and excludes no honest peer
// (bench/poisoning: the whole matrix).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runMatrix } from '../../sim/poisoning.ts'

test('robust default against 2 of 8 colluding spec-tuned copies on real training: within 2% of clean',
  { timeout: 400_000 }, async () => {
  const rows = await runMatrix({
    rounds: 2, localSteps: 3, maxLength: 128, limitPerPeer: 60,
    settings: [{ peers: 8, malicious: 2, partition: 'iid' }],
    cases: [{ attack: 'copies', knowledge: 'omniscient', rule: 'robust' }]
  })
  const [clean, copies] = rows
  assert.equal(clean!.attack, 'none')
  assert.equal(copies!.attack, 'copies')
  assert.equal(copies!.cleanLoss, clean!.finalLoss)
  assert.ok(copies!.worsePct <= 2,
    `copies: ${copies!.finalLoss} vs clean ${clean!.finalLoss} (${copies!.worsePct.toFixed(2)}%)`)
  assert.equal(copies!.benignExcluded, 0)
  assert.equal(copies!.maliciousTotal, 4)
})
