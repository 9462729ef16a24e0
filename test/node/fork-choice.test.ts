// Two attempts of one round both publish a result: the elected aggregator's (attempt 0) is held back until the
// failover attempt's result was confirmed by its witnesses and adopted. A result is considered only for the
// attempt a member follows, and an aggregator adopts its own result only once confirmed, so the late attempt-0
// result is never taken: every peer, its aggregator too, ends on the failover's adapter (the job never forks).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { roundInfoOf } from '../../node/round-info.ts'
import type { RoundInfo } from '../../node/round-info.ts'
import { RoundMessage } from '../../protocol/messages.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import type { Transport } from '../../node/types.ts'
import { testJob, startNet, until } from './net-fixture.ts'

test('when a superseded attempt publishes late, every peer keeps the confirmed failover result', { timeout: 60_000 },
  async () => {
  const { job, jobId } = testJob({ rounds: 1, minPeers: 4, peersPerRound: 2, roundDeadlineSeconds: 3 })
  // the attempt-0 aggregator publishes its result only when the test lets go
  let held: RoundInfo | undefined
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  // a transport that holds back the publish of an attempt-0 result
  const transport: Transport = {
    ...libp2pTransport,
    publish: async (host, topic, data) => {
      const r = RoundMessage.decode(data).result
      if (r !== undefined && r.attempt === 0) {
        held = roundInfoOf(r, host.peerId.toString())
        await released
      }
      await libp2pTransport.publish(host, topic, data)
    }
  }
  // with these identities attempts 0 and 1 select different trainers (so make different adapters), and
  // attempt 1 does not select the held aggregator (which has finished the round and would not train)
  const net = await startNet(4, job, jobId, { transport }, 76)
  try {
    await until(() => held !== undefined, 20_000, 'the elected aggregator to aggregate round 1')
    const first = held!
    const elected = net.peers.find((p) => p.peerId === first.aggregator)!
    const others = net.peers.filter((p) => p !== elected)

    // the others hear no result, fail over, and adopt the later attempt's result
    await until(() => others.every((p) => p.global.round === 1), 20_000,
      'the others to adopt a failover result of round 1')
    const later = others[0]!.rounds.find((r) => r.round === 1)!
    assert.ok(later.attempt > first.attempt, `the others adopted a later attempt (${later.attempt})`)
    assert.notEqual(later.hash, first.hash, 'precondition: the two attempts made different adapters')
    for (const p of others) assert.equal(p.global.hash, later.hash)
    const late = await net.addPeer()
    await until(() => late.global.round === 1, 20_000, 'a late peer to catch up with the others')
    assert.equal(late.global.hash, later.hash, 'the late peer caught up with the failover result')
    // the held aggregator never adopted its own unconfirmed result: it follows the confirmed one
    await until(() => elected.global.round === 1, 20_000, 'the held aggregator to adopt the confirmed result')

    // the superseded attempt's result arrives last: no one takes it
    const refused = new Set<string>()
    for (const p of net.peers) {
      p.events.on('rejected', (r) => {
        if (r.from === elected.peerId && r.reason === 'stale_round') refused.add(p.peerId)
      })
    }
    release()
    await until(() => others.every((p) => refused.has(p.peerId)), 20_000, 'the others to refuse the late result')
    for (const p of net.peers) assert.equal(p.global.hash, later.hash)
    for (const p of [elected, ...others]) {
      const log = p.rounds.filter((r) => r.round === 1)
      assert.equal(log.length, 1, 'one entry for round 1 in the rounds log')
      assert.equal(log[0]!.hash, later.hash)
    }
  } finally {
    release()
    await net.close()
  }
})
