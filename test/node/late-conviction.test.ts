// A member that convicts later than the others still ends the round with them. Two aggregators in a row sign
// garbage (attempts 0 and 1 of round 1); one honest member hears every attestation 3 s late (a slow gossip path),
// so when the others have convicted both and the next aggregator announces attempt 2 at once, that member still
// follows attempt 0, and the second offender's result names an aggregator its order does not have there yet.
// Seen in the simulation test under load: that member dropped both messages for good, never convicted the second
// offender, announced attempt 2 itself over a list naming it (refused by all), and the round never ended. Now
// it keeps them and judges them again once it convicts (node/trust.ts unjudged, member-role.ts notDue), and an
// attempt whose aggregator it convicted is one no one waits for: it trains for attempt 2, which includes it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { RoundMessage } from '../../protocol/messages.ts'
import { roundsTopic } from '../../protocol/topics.ts'
import { electionOrder, selectRandomK } from '../../protocol/election.ts'
import { genesisBeacon } from '../../protocol/seeds.ts'
import { roleAttackTransport } from '../../sim/role-attacks.ts'
import type { Peer } from '../../node/peer.ts'
import { idsOf, assertHonestEnd } from './trust-fixture.ts'
import { testJob, startNet, until } from './net-fixture.ts'

// with these identities peers 0 and 1 aggregate attempts 0 and 1, peer 2 attempt 2, which selects peers 3 and 4
const SEED_BASE = 160
const LATE_MS = 3000

/** `p` hears attestations LATE_MS after they reach it (they are not forwarded through it meanwhile) */
function delayAttestations (p: Peer, topic: string): void {
  const pubsub = p.libp2p.services.pubsub
  const validate = pubsub.topicValidators.get(topic)!
  pubsub.topicValidators.set(topic, async (from, msg: Message) => {
    const verdict = await validate(from, msg)
    let attestation = false
    try { attestation = RoundMessage.decode(msg.data).attestation !== undefined } catch { /* not ours: passes */ }
    if (verdict !== TopicValidatorResult.Accept || !attestation) return verdict
    setTimeout(() => { pubsub.dispatchEvent(new CustomEvent('message', { detail: msg })) }, LATE_MS)
    return TopicValidatorResult.Ignore
  })
}

test('a member that convicts two aggregators late trains for the next attempt and the round ends with it',
  { timeout: 90_000 }, async () => {
    const { job, jobId } = testJob({ rounds: 1, minPeers: 5, peersPerRound: 2, roundDeadlineSeconds: 6 })
    const ids = await idsOf(5, SEED_BASE)
    const beacon = genesisBeacon(jobId)
    const order = electionOrder(ids, beacon, 1)
    const [g0, g1] = [order[0]!, order[2]!] // g1 is second once g0 is out
    const next = order.filter((m) => m !== g0 && m !== g1)
    const members3 = [...next].sort()
    const selected = selectRandomK({ members: members3, k: 2, prevGlobalHash: beacon, round: 1, attempt: 2 })
    assert.deepEqual([g0, g1, next[2]], [ids[0], ids[1], ids[2]], 'precondition: the identities\' roles')
    assert.deepEqual(selected.sort(), [ids[3]!, ids[4]!].sort(), 'precondition: attempt 2 selects peers 3 and 4')

    const net = await startNet(0, job, jobId, { members: ids }, SEED_BASE)
    try {
      for (let i = 0; i < 5; i++) {
        const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(SEED_BASE + i + 1))
        await net.addPeer(i < 2 ? { transport: roleAttackTransport('aggregator-garbage', key) } : {})
      }
      const [, , , late, other] = net.peers
      delayAttestations(late!, roundsTopic(jobId))
      const honest = net.peers.slice(2)
      await until(() => honest.every((p) => p.global.round === 1), 60_000, 'round 1 to end at every honest peer')

      assertHonestEnd(honest, job, new Set([g0, g1]))
      for (const p of honest) assert.deepEqual(p.excluded().sort(), [g0, g1].sort(), 'both offenders convicted')
      const r1 = late!.rounds.find((r) => r.round === 1)!
      assert.equal(r1.aggregator, ids[2], 'attempt 2 ends the round')
      assert.deepEqual([...r1.included].sort(), [late!.peerId, other!.peerId].sort(), 'with the late member\'s update')
    } finally {
      await net.close()
    }
  })
