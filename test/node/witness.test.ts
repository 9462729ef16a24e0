import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { RoundResult } from '../../protocol/messages.ts'
import { updateStatement } from '../../protocol/signed-update.ts'
import { sign } from '../../node/signatures.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { encodeAdapter, layoutOf, sha256Hex } from '../../node/adapter-codec.ts'
import { aggregateRound } from '../../node/round-aggregate.ts'
import { attestation, judgeResult } from '../../node/witness-role.ts'
import { ResultGate } from '../../node/result-gate.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { hex, unhex } from '../../node/hex.ts'

const jobId = 'd'.repeat(64)

type FakeAdapter = ReturnType<ReturnType<typeof createFakeTrainer>['initialAdapter']>
interface HonestRound {
  r: RoundResult, served: Map<string, Uint8Array>, deps: Parameters<typeof judgeResult>[0], base: FakeAdapter
  agg: string
}
async function honestRound (): Promise<HonestRound> {
  const t = createFakeTrainer({ lora: { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] } })
  const base = t.initialAdapter(1)
  const baseHash = sha256Hex(encodeAdapter(base))
  const served = new Map<string, Uint8Array>()
  const keys = await Promise.all([1, 2, 3, 4].map(async (i) => await generateKeyPairFromSeed('Ed25519',
    new Uint8Array(32).fill(i))))
  const ids = keys.map((k) => peerIdFromPrivateKey(k).toString())
  const updates = []
  const commits = new Map<string, RoundResult['updates'][number]>()
  for (let i = 0; i < 3; i++) {
    const a = (await t.train({ round: 1, base, seed: 10 + i, signal: new AbortController().signal })).adapter
    const bytes = encodeAdapter(a)
    const h = sha256Hex(bytes)
    served.set(h, bytes)
    updates.push({ peer: ids[i]!, samples: 5 + i, round: 1, baseHash, adapter: a })
    commits.set(ids[i]!, { author: ids[i]!, hash: unhex(h), samples: 5 + i,
      signature: await sign(keys[i]!, updateStatement(jobId, 1, 0, baseHash, h, 5 + i)) })
  }
  const aggregate = buildAggregator(FEDAVG)
  const out = aggregateRound(aggregate, updates, { round: 1, baseHash, global: base })
  const included = out.decisions.filter((d) => d.included).map((d) => d.peer).sort()
  const r: RoundResult = { jobId, round: 1, attempt: 0, baseHash: unhex(baseHash), newHash: unhex(out.hash),
    selected: [...ids.slice(0, 3)].sort(), included, excluded: [], trainLoss: 1, bytes: 0n, seconds: 1,
    adapterBytes: 0n, updates: included.map((p) => commits.get(p)!) }
  const deps = { jobId, peerId: ids[3]!, key: keys[3]!, layout: layoutOf(base), maxAdapterBytes: 1 << 20, aggregate,
    fetch: async (_from: string, h: string) => { const b = served.get(h);
    if (b === undefined) throw new Error('not_found'); return b }, history: async () => undefined }
  return { r, served, deps, base, agg: ids[0]! }
}

test('a witness agrees with an honest result and catches a changed adapter, a dropped update and a missing one',
  async () => {
  const { r, served, deps, base, agg } = await honestRound()
  const ok = await judgeResult(deps, r, agg, base, '')
  assert.equal(ok.agree, true, ok.reason)
  assert.ok(ok.bytes > 0)
  const label = async (x: RoundResult): Promise<string> => {
    const v = await judgeResult(deps, x, agg, base, '')
    assert.equal(v.agree, false)
    return v.reason.split(':')[0]!
  }
  assert.equal(await label({ ...r, newHash: new Uint8Array(32).fill(3) }), RejectReason.HashMismatch)
  // an honest update moved to "excluded" with a made-up reason: the rule would have included it
  const moved = r.updates[1]!
  assert.equal(await label({ ...r, included: r.included.filter((p) => p !== moved.author),
    updates: r.updates.filter((u) => u !== moved), excluded: [{ peer: moved.author, reason: 'norm', update: moved }] }),
    RejectReason.BadCommitment)
  assert.equal(await label({ ...r, updates: [{ ...r.updates[0]!, samples: 999 }, ...r.updates.slice(1)] }),
    RejectReason.BadSignature)
  served.delete(hex(r.updates[2]!.hash))
  assert.equal(await label(r), RejectReason.UpdateUnavailable)
  // ... which it cannot judge: it signs nothing (a timeout under load is no evidence against the aggregator)
  assert.equal((await judgeResult(deps, r, agg, base, '')).abstain, true)
})

test('a witness fetches a result\'s updates side by side, not one after another', async () => {
  const { r, deps, base, agg } = await honestRound()
  let inFlight = 0
  let most = 0
  // each fetch waits on the aggregator's round trips (a second on a loaded loop): here 50 ms
  const slow = { ...deps, fetch: async (from: string, h: string) => {
    inFlight++
    most = Math.max(most, inFlight)
    await new Promise((resolve) => setTimeout(resolve, 50))
    inFlight--
    return await deps.fetch(from, h)
  } }
  const v = await judgeResult(slow, r, agg, base, '')
  assert.equal(v.agree, true, v.reason)
  assert.equal(most, r.updates.length) // all three at once (a bound of 4)
})

test('the gate: a quorum of drawn witnesses confirms, attestations may come first, a second signed result is ' +
  'equivocation', async () => {
  const { r, deps, base, agg } = await honestRound()
  const v = await judgeResult(deps, r, agg, base, '')
  const a = await attestation(deps, r, agg, v)
  const gate = new ResultGate(2)
  assert.equal(gate.addAttestation(a), undefined) // before its result: kept
  const { entry } = gate.addResult(r, agg, [deps.peerId, 'w2', 'w3'], [agg, deps.peerId, 'w2', 'w3'])
  assert.equal(entry?.state, 'pending')
  assert.equal(entry?.verdicts.get(deps.peerId), true)
  gate.addAttestation({ ...a, witness: 'not-drawn' })
  assert.equal(entry?.state, 'pending')
  gate.addAttestation({ ...a, witness: 'w2' })
  assert.equal(entry?.state, 'confirmed')
  const other = { ...r, newHash: new Uint8Array(32).fill(4) }
  assert.equal(gate.addResult(other, agg, [], [])?.equivocated, r)
  gate.forget(1)
  assert.deepEqual(gate.pendingOf(1), [])
})

test('the gate: attestations before their result wait only from members, two per signer, so a flood ' +
  'cannot push out a witness\'s', async () => {
  const { r, deps, base, agg } = await honestRound()
  const a = await attestation(deps, r, agg, await judgeResult(deps, r, agg, base, ''))
  const gate = new ResultGate(2)
  assert.equal(gate.addAttestation(a), undefined) // an honest witness's, before its result
  // strangers' (the caller knows no such member) and one member's for a hundred attempts (gate-level: the
  // signatures were checked by the caller, so only who signed and what they name matter here)
  for (let i = 0; i < 100; i++) gate.addAttestation({ ...a, witness: `stranger-${i}`, attempt: i }, false)
  for (let i = 0; i < 100; i++) gate.addAttestation({ ...a, witness: 'bad-member', attempt: i + 1 })
  const { entry } = gate.addResult(r, agg, [deps.peerId, 'w2', 'w3'], [agg, deps.peerId, 'w2', 'w3'])
  assert.equal(entry?.verdicts.get(deps.peerId), true, 'the witness\'s early attestation was kept')
  assert.equal(entry?.signed.size, 1, 'no stranger\'s attestation waited')

  // two opposite attestations of one result, both before it: both wait, so the pair convicts its signer
  const later = new ResultGate(2)
  later.addAttestation({ ...a, witness: 'two-faced', agree: true })
  later.addAttestation({ ...a, witness: 'two-faced', agree: false })
  const e2 = later.addResult(r, agg, [deps.peerId, 'w2', 'two-faced'], [agg, deps.peerId, 'w2', 'two-faced']).entry
  assert.equal(e2?.equivocations.length, 1, 'the opposite pair is kept as evidence')
})
