import { test } from 'node:test'
import assert from 'node:assert/strict'
import { helloTtlMs, leadingZeroBits, oldEnough, powDigest, solvePow, verifyPow } from '../../protocol/membership.ts'
import { validateJobSpec } from '../../protocol/job-spec.ts'
import { readFileSync } from 'node:fs'

const job = 'a'.repeat(64)
const peer = '12D3KooWAa'

test('leading zero bits', () => {
  assert.equal(leadingZeroBits(new Uint8Array([0, 0, 0x80])), 16)
  assert.equal(leadingZeroBits(new Uint8Array([0, 0x01])), 15)
  assert.equal(leadingZeroBits(new Uint8Array([0xff])), 0)
  assert.equal(leadingZeroBits(new Uint8Array(4)), 32)
})

test('a proof of work is bound to the peer and the job, and checked with one hash', () => {
  const nonce = solvePow(job, peer, 12)
  assert.ok(leadingZeroBits(powDigest(job, peer, nonce)) >= 12)
  assert.equal(verifyPow(job, peer, nonce, 12), true)
  // the same nonce is (almost surely) worthless for another identity or another job
  const elsewhere = [verifyPow(job, '12D3KooWBb', nonce, 12), verifyPow('b'.repeat(64), peer, nonce, 12)]
  assert.deepEqual(elsewhere, [false, false])
  assert.equal(verifyPow(job, peer, 12345n, 0), true) // no price
  assert.throws(() => solvePow(job, peer, 30, 100), /no proof of work/)
})

test('age: founders and peers there before us count at once, newcomers after minAgeRounds rounds', () => {
  assert.equal(oldEnough(0, 1, 2), true)
  assert.equal(oldEnough(5, 6, 2), false)
  assert.equal(oldEnough(5, 7, 2), false)
  assert.equal(oldEnough(5, 8, 2), true)
  assert.equal(oldEnough(5, 6, 2, 5), true) // we started at round 5: we cannot tell
  assert.equal(oldEnough(5, 6, 0), true)
})

test('a Hello keeps its sender live for a few intervals, capped by the job, not by the sender', () => {
  assert.equal(helloTtlMs(30_000, 2_000, 6_000, 3), 6_000)
  assert.equal(helloTtlMs(1_000, 20_000, 6_000, 3), 6_000)
  assert.equal(helloTtlMs(10_000, 20_000, 6_000, 3), 30_000)
})

test('job spec: witnesses and membership defaults, and their bounds', () => {
  const raw = JSON.parse(readFileSync(new URL('../../examples/job.json', import.meta.url), 'utf8'))
  const spec = validateJobSpec(raw)
  assert.deepEqual(spec.witnesses, { count: 3, quorum: 2 })
  assert.deepEqual(spec.membership, { powBits: 16, minAgeRounds: 2 })
  const custom = validateJobSpec({ ...raw, witnesses: { count: 5, quorum: 3 },
    membership: { powBits: 8, minAgeRounds: 0 } })
  assert.deepEqual([custom.witnesses, custom.membership], [{ count: 5, quorum: 3 }, { powBits: 8, minAgeRounds: 0 }])
  assert.throws(() => validateJobSpec({ ...raw, witnesses: { count: 3, quorum: 4 } }), /witnesses.quorum/)
  assert.throws(() => validateJobSpec({ ...raw, membership: { powBits: 99 } }), /membership.powBits/)
  assert.throws(() => validateJobSpec({ ...raw, membership: { bits: 1 } }), /membership.bits/)
})
