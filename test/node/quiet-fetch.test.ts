// In a large job (here from 4 members on) a member without a role in the next round waits before it fetches a
// confirmed result's global adapter (node/member-role.ts), so the next round's aggregator, trainers and witnesses
// fetch first. The next round then runs while the quiet members still wait: its result reaches them a round
// ahead of where they stand, and must be kept and judged once they adopt (node/trust.ts "ahead"), not refused
// and lost, which left them to catch up by a chain sync. A member that heard the next round announced before it
// adopts does not wait (a wait could take it past that announce's deadline). 8 real peers on 127.0.0.1, 3 rounds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addLoggedPeers, FAST, testJob, startNet, until } from './net-fixture.ts'

const PEERS = 8
// up to 3 s quiet (at least 750 ms): longer than the next round takes with the instant trainer, shorter than its
// announce's deadline (6 s), which a member must still be inside of to follow the announce once it adopts
const TIMING = { ...FAST, largeJobMembers: 4, idleHellosPerHeartbeat: PEERS, quietFetchMs: 3000 }

test('quiet members fetch after the next round\'s roles, and take the next round\'s result they heard early',
  { timeout: 120_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 3, peersPerRound: 1, minPeers: PEERS, roundDeadlineSeconds: 6,
    witnesses: { count: 2, quorum: 2 } })
  /** `peer index/round` of each adoption that waited quietly */
  const quiet = new Set<string>()
  /** `peer index/round` of each quiet member that fetched at once, having heard the next round announced */
  const skipped = new Set<string>()
  const net = await startNet(0, job, jobId, { timing: TIMING }, 90)
  try {
    await addLoggedPeers(net, PEERS, (i, line) => {
      const m = /^round (\d+): global \w+ fetched in \d+ ms after a wait of \d+ ms/.exec(line)
      if (m !== null) quiet.add(`${i}/${m[1]}`)
      const s = /^round (\d+): confirmed; no role in round \d+, which is announced already/.exec(line)
      if (s !== null) skipped.add(`${i}/${s[1]}`)
    })
    await until(() => net.peers.every((p) => p.global.round === job.rounds), 90_000, 'the job to finish everywhere')
    assert.equal(new Set(net.peers.map((p) => p.global.hash)).size, 1, 'one global adapter')
    // each round but the last had quiet members, and none of them aggregated or trained in the round after. The
    // first round's waited; a later round's may all stand behind (they waited the round before, while the rounds
    // of the instant trainer ran on) and, having heard the next round announced, fetch at once: a wait then could
    // take them past that announce's deadline, and they would catch up by a chain sync instead
    const ref = net.peers[0]!.rounds
    for (let r = 1; r < job.rounds; r++) {
      const waited = net.peers.filter((_p, i) => quiet.has(`${i}/${r}`)).map((p) => p.peerId)
      const atOnce = net.peers.filter((_p, i) => skipped.has(`${i}/${r}`)).map((p) => p.peerId)
      assert.ok(waited.length > 0 || (r > 1 && atOnce.length > 0), `round ${r}: no member waited`)
      const next = ref.find((i) => i.round === r + 1)!
      if (next.attempt !== 0) continue // a failover's roles are not the ones drawn for attempt 0
      for (const m of [...waited, ...atOnce]) {
        assert.notEqual(next.aggregator, m, `round ${r}: ${m.slice(-6)} waited, then aggregated round ${r + 1}`)
        assert.ok(!next.selected.includes(m), `round ${r}: ${m.slice(-6)} waited, then trained in round ${r + 1}`)
      }
    }
    // every member adopted every round by its result: none was refused as a round ahead and caught up instead
    for (const p of net.peers) {
      const missed = p.rounds.filter((i) => i.missed === true).map((i) => i.round)
      assert.deepEqual(missed, [], `${p.peerId.slice(-6)} caught up past rounds ${missed.join(', ')}`)
    }
  } finally {
    await net.close()
  }
})
