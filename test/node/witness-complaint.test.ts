// Complaints and time. A witness checks complaints itself: the aggregator of round 1 drops a receipted update,
// and the trainer's complaint reaches the result's witnesses only after they took the result and began recomputing
// it (their fetch of the updates waits for it). Their recomputation agrees (the aggregate is honest over what it
// names), but a witness holding a valid complaint against the result refuses it: it signs a disagreement naming
// dropped_update, so no quorum can confirm it, and the round fails over.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { electionOrder } from '../../protocol/election.ts'
import { genesisBeacon, witnessesOf } from '../../protocol/seeds.ts'
import { RoundMessage } from '../../protocol/messages.ts'
import type { Attestation } from '../../protocol/messages.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import type { AggregateFn } from '../../trainer/aggregate/types.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import type { Transport } from '../../node/types.ts'
import type { Peer } from '../../node/peer.ts'
import type { JobSpec } from '../../protocol/job-spec.ts'
import { collectReasons, idsOf } from './trust-fixture.ts'
import { testJob, startNet, until } from './net-fixture.ts'

const SEED_BASE = 130

/** a job whose round-1 aggregator takes every update, then aggregates (honestly) all but one of the others' */
async function droppingJob (): Promise<{ job: JobSpec, jobId: string, ids: string[], elected: string,
  witnesses: string[], dropping: AggregateFn, victim: () => string | undefined }> {
  const { job, jobId } = testJob({ rounds: 2, minPeers: 5, peersPerRound: 3, roundDeadlineSeconds: 3,
    membership: { powBits: 8, minAgeRounds: 2 } })
  const ids = await idsOf(5, SEED_BASE)
  const members = [...ids].sort()
  const elected = electionOrder(members, genesisBeacon(jobId), 1)[0]!
  const witnesses = witnessesOf(members, genesisBeacon(jobId), 1, 0, elected, job.witnesses.count)
  const honestAggregate = buildAggregator(FEDAVG)
  let victim: string | undefined
  const dropping: AggregateFn = (updates, ctx) => {
    if (ctx.round === 1 && victim === undefined) victim = updates.find((u) => u.peer !== elected)?.peer
    return honestAggregate(ctx.round === 1 ? updates.filter((u) => u.peer !== victim) : updates, ctx)
  }
  return { job, jobId, ids, elected, witnesses, dropping, victim: () => victim }
}

test('a witness that hears a valid complaint before it signs refuses the result', { timeout: 120_000 }, async () => {
  const { job, jobId, ids, elected, witnesses, dropping, victim: dropped } = await droppingJob()
  const peers = new Map<string, Peer>()
  // the complaint goes out once a witness began fetching the result's updates (or after 15 s, should none)
  let witnessFetching!: () => void
  const fetching = new Promise<void>((resolve) => { witnessFetching = resolve })
  const transport: Transport = {
    ...libp2pTransport,
    publish: async (host, topic, data) => {
      if (RoundMessage.decode(data).complaint !== undefined) {
        await Promise.race([fetching, new Promise((resolve) => setTimeout(resolve, 15_000))])
      }
      await libp2pTransport.publish(host, topic, data)
    },
    // a witness of round 1's first attempt fetches from its aggregator only once the complaint reached it
    fetchAdapter: async (host, from, hash, opts) => {
      const me = host.peerId.toString()
      if (from.toString() === elected && witnesses.includes(me) && peers.get(me)?.global.round === 0) {
        witnessFetching()
        await until(() => peers.get(me)!.excluded().includes(elected), 30_000, 'the complaint to reach the witness')
      }
      return await libp2pTransport.fetchAdapter(host, from, hash, opts)
    }
  }
  const net = await startNet(0, job, jobId, { transport }, SEED_BASE)
  for (const id of ids) peers.set(id, await net.addPeer(id === elected ? { aggregate: dropping } : {}))
  const bad = peers.get(elected)!
  const honest = net.peers.filter((p) => p !== bad)
  const reasons = collectReasons(honest)
  const verdicts: Attestation[] = []
  for (const p of honest) {
    p.libp2p.services.pubsub.addEventListener('message', (e) => {
      let a: Attestation | undefined
      try { a = RoundMessage.decode(e.detail.data).attestation } catch { return } // another topic's bytes
      if (a?.round === 1 && a.aggregator === elected) verdicts.push(a)
    })
  }
  try {
    await until(() => honest.every((p) => p.global.round === job.rounds), 90_000,
      'the job to complete without the dropping aggregator')
    const victim = dropped()
    assert.ok(victim !== undefined, 'the aggregator dropped an update')
    assert.ok(reasons.has(RejectReason.DroppedUpdate), [...reasons].join(', '))
    for (const p of honest) assert.deepEqual(p.excluded(), [elected], 'every honest peer excludes it')
    // the witnesses that recomputed it signed their refusal, none its agreement
    const refusals = verdicts.filter((a) => !a.agree && a.reason.startsWith(RejectReason.DroppedUpdate))
    assert.ok(refusals.length > 0, `a witness refused it (${verdicts.map((a) => `${a.agree} ${a.reason}`).join('; ')})`)
    assert.ok(refusals.every((a) => witnesses.includes(a.witness) && a.witness !== victim))
    assert.equal(verdicts.filter((a) => a.agree).length, 0, 'no witness vouched for it')
    for (const p of honest) {
      for (const r of p.rounds.filter((x) => x.round === 1)) assert.notEqual(r.aggregator, elected)
    }
    assert.equal(new Set(honest.map((p) => p.global.hash)).size, 1, 'one global adapter')
  } finally {
    await net.close()
  }
})

// The same drop, but the complaint is heard only once every other peer adopted the result (its witnesses heard
// nothing against it and confirmed it): the aggregator is convicted for the rest of the job, and the result
// stands (DESIGN.md "Complaints rest on receipts": rewinding an adopted round would split the peers).
test('a complaint heard after the result was adopted convicts its aggregator; the result stands',
  { timeout: 120_000 }, async () => {
    const { job, jobId, ids, elected, dropping, victim } = await droppingJob()
    let releaseComplaint!: () => void
    const complaintGoes = new Promise<void>((resolve) => { releaseComplaint = resolve })
    const transport: Transport = { ...libp2pTransport, publish: async (host, topic, data) => {
      if (RoundMessage.decode(data).complaint !== undefined) await complaintGoes
      await libp2pTransport.publish(host, topic, data)
    } }
    const net = await startNet(0, job, jobId, { transport }, SEED_BASE)
    try {
      for (const id of ids) await net.addPeer(id === elected ? { aggregate: dropping } : {})
      const honest = net.peers.filter((p) => p.peerId !== elected)
      await until(() => victim() !== undefined, 30_000, 'the aggregator to drop an update')
      const others = honest.filter((p) => p.peerId !== victim())
      await until(() => others.every((p) => p.global.round >= 1), 30_000, 'the others to adopt round 1')
      const stood = others[0]!.rounds.find((r) => r.round === 1)!
      assert.equal(stood.aggregator, elected, 'round 1 was confirmed and adopted from the dropping aggregator')
      assert.ok(honest.every((p) => p.excluded().length === 0), 'no one heard the complaint yet')
      releaseComplaint()
      await until(() => honest.every((p) => p.excluded().includes(elected)), 30_000, 'every honest peer to convict it')
      await until(() => honest.every((p) => p.global.round === job.rounds), 60_000, 'the job to complete')
      for (const p of others) {
        const r1 = p.rounds.filter((r) => r.round === 1)
        assert.equal(r1.length, 1, 'round 1 was not rewound')
        assert.equal(r1[0]!.hash, stood.hash)
      }
      assert.equal(new Set(honest.map((p) => p.global.hash)).size, 1, 'one global adapter')
    } finally {
      releaseComplaint()
      await net.close()
    }
  })
