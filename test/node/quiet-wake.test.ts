// A quiet member (no role drawn for attempt 0 of the next round, node/member-role.ts) waits long before it fetches a
// new global; a failover attempt draws other trainers, who may be quiet members still waiting. Its announce, kept
// while they stand a round behind, must end their wait at once, or their updates come after its deadline. 10 real
// peers on 127.0.0.1; round 2's elected aggregator stays silent (its announce never leaves it), or dies as it
// announces: then the failover lists a member the quiet ones no longer hold live, and must still be followed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RoundMessage } from '../../protocol/messages.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import type { Transport } from '../../node/peer.ts'
import { FAST, netLogger, testJob, startNet, until } from './net-fixture.ts'

const PEERS = 10
// 5-20 s quiet: past attempt 1's announce (due one 4 s silence after round 2 became due, or a few heartbeats after
// its aggregator died) and past its 4 s deadline
const TIMING = { ...FAST, largeJobMembers: 4, idleHellosPerHeartbeat: PEERS, quietFetchMs: 20_000 }

// the elected aggregator of round 2 announces attempt 0 to no one: attempt 1 is due one silence later
const silent: Transport = { ...libp2pTransport, publish: async (host, topic, data) => {
  const a = RoundMessage.decode(data).announce
  if (a?.round === 2 && a.attempt === 0) return
  await libp2pTransport.publish(host, topic, data)
} }

async function failoverWhileQuiet (aggregator: 'silent' | 'dead'): Promise<void> {
  const { job, jobId } = testJob({ rounds: 2, peersPerRound: 3, minPeers: PEERS, roundDeadlineSeconds: 4,
    witnesses: { count: 2, quorum: 2 } })
  /** peer index -> the rounds it waited quietly to fetch, and those whose wait an announce ended */
  const quiet = new Map<number, number[]>()
  const woken = new Map<number, number[]>()
  const add = (m: Map<number, number[]>, i: number, round: number): void => { m.set(i, [...m.get(i) ?? [], round]) }
  const net = await startNet(0, job, jobId, { timing: TIMING }, 120)
  let stopped = ''
  try {
    for (let i = 0; i < PEERS; i++) {
      const log = netLogger(`p${i}`)
      const p = await net.addPeer({
        ...(aggregator === 'silent' ? { transport: silent } : {}),
        logger: (line) => {
          log?.(line)
          const q = /^round (\d+): confirmed; no role in round \d+, fetching its global in \d+ ms/.exec(line)
          if (q !== null) add(quiet, i, Number(q[1]))
          const w = /^round (\d+): the announce of round \d+ by \w+ gives us a role/.exec(line)
          if (w !== null) add(woken, i, Number(w[1]))
        }
      })
      if (aggregator === 'dead') {
        p.events.on('announce', (a) => {
          if (a.mine && a.round === 2 && a.attempt === 0 && stopped === '') { stopped = p.peerId; void p.stop() }
        })
      }
    }
    const alive = (): typeof net.peers => net.peers.filter((p) => p.peerId !== stopped)
    await until(() => alive().some((p) => p.global.round === 2), 60_000, 'round 2 after a failover')
    const r2 = alive().find((p) => p.global.round === 2)!.rounds.find((i) => i.round === 2)!
    assert.ok(r2.attempt > 0, `round 2 by attempt ${r2.attempt}`)
    const index = (id: string): number => net.peers.findIndex((p) => p.peerId === id)
    const quietTrainers = r2.selected.filter((m) => quiet.get(index(m))?.includes(1) === true)
    assert.ok(quietTrainers.length > 0, `the failover drew no quiet member (selected ${r2.selected.join(', ')}): ` +
      'the test needs another seed base')
    for (const m of quietTrainers) {
      assert.ok(woken.get(index(m))?.includes(1) === true, `p${index(m)} was drawn by the failover and kept waiting`)
    }
    // a dead aggregator may be among those drawn (a failover keeps attempt 0's members): it sends nothing
    assert.deepEqual(r2.excluded.filter((e) => e.peer !== stopped), [], 'every live trainer\'s update came in time')
    await until(() => alive().every((p) => p.global.round === 2), 60_000, 'every peer to reach round 2')
    assert.equal(new Set(alive().map((p) => p.global.hash)).size, 1, 'one global adapter')
  } finally {
    await net.close()
  }
}

test('a failover\'s announce that names a quiet member ends its wait', { timeout: 150_000 }, async () => {
  await failoverWhileQuiet('silent')
})

test('quiet members follow a failover that lists the aggregator that died', { timeout: 150_000 }, async () => {
  await failoverWhileQuiet('dead')
})
