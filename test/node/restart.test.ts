// A peer restarted with the same state directory, after a clean stop or a crash, rejoins the job where it
// stands: same identity, its global adapter and hash, its rounds log; then it follows (or catches up with)
// the others to the same final global adapter.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createPeer } from '../../node/peer.ts'
import type { Peer, PeerOptions } from '../../node/peer.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import { testJob, startNet, until, FAST, netLogger } from './net-fixture.ts'

test('a peer restarted with its --state rejoins the job where it stands (clean stop, then a crash)',
  { timeout: 90_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 4, minPeers: 4, peersPerRound: 3 })
  const net = await startNet(4, job, jobId, {}, 30)
  const stateDir = join(net.dir, 'restarting')
  // no privateKey: the identity is stateDir/identity.key, created on the first start, as with `fedit peer`
  const opts = (dir: string): PeerOptions => ({
    job, jobId, stateDir: dir,
    trainer: createFakeTrainer({ lora: { ...job.lora }, samples: 7 }),
    aggregate: buildAggregator(FEDAVG),
    listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: net.bootAddrs, local: true, timing: FAST,
      logger: netLogger(`r-${dir.split('/').pop()}`)
  })
  const started: Peer[] = []
  const start = async (dir: string): Promise<Peer> => {
    const p = createPeer(opts(dir))
    started.push(p)
    await p.start()
    return p
  }
  try {
    const first = await start(stateDir)
    const id = first.peerId
    assert.equal(statSync(join(stateDir, 'identity.key')).mode & 0o777, 0o600)
    await until(() => first.global.round >= 1 && first.rounds.length >= 1, 30_000, 'the peer to complete a round')
    // what a crash leaves behind: the files as they stand at some moment of the run (each write is atomic)
    const crashDir = join(net.dir, 'crashed')
    cpSync(stateDir, crashDir, { recursive: true })

    // clean stop, the others go on without it, restart from the same directory
    await first.stop()
    const at = { round: first.global.round, hash: first.global.hash, rounds: first.rounds.length }
    await until(() => net.peers.every((p) => p.global.round > at.round), 30_000, 'the others to go on without it')
    const second = await start(stateDir)
    assert.equal(second.peerId, id, 'same identity')
    assert.equal(second.global.round, at.round, 'global round reloaded')
    assert.equal(second.global.hash, at.hash, 'global hash reloaded')
    assert.equal(second.rounds.length, at.rounds, 'rounds log reloaded')
    assert.deepEqual(second.rounds.map((r) => r.round), first.rounds.map((r) => r.round))
    await until(() => [...net.peers, second].every((p) => p.global.round === job.rounds), 40_000,
      'every peer, the restarted one too, to finish the job')
    assert.equal(new Set([...net.peers, second].map((p) => p.global.hash)).size, 1, 'one global adapter')
    // the rounds it was away for are in its rounds log too: no gap, each round once. Each was caught up by the chain
    // (marked missed) or adopted from a result it heard on rejoining (CI saw none marked missed once); before its
    // stop it may have missed rounds too (it joined a job under way: missed 1-2, stopped at 3)
    const all = Array.from({ length: job.rounds }, (_, i) => i + 1)
    assert.deepEqual(second.rounds.map((r) => r.round), all, JSON.stringify(second.rounds))
    const away = second.rounds.filter((r) => r.round > at.round)
    assert.ok(away.length >= 1 && away[0]!.round === at.round + 1, JSON.stringify(away))
    // a round it caught up to or adopted carries the adapter the others made for that round
    const adopted = away.filter((r) => r.hash !== '')
    assert.ok(adopted.length >= 1, JSON.stringify(away))
    for (const c of adopted) {
      assert.equal(c.hash, net.peers[0]!.rounds.find((r) => r.round === c.round)?.hash, `round ${c.round}`)
    }
    await second.stop()
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, 'rounds.json'), 'utf8')), second.rounds)

    // crash: start from the snapshot, which is behind the job: it catches up with the others
    const third = await start(crashDir)
    assert.equal(third.peerId, id)
    // its save may not have landed yet: round 0 is a fair crash too
    assert.ok(third.global.round < job.rounds, `snapshot at round ${third.global.round}`)
    const from = third.global.round
    await until(() => third.global.round === job.rounds, 20_000, 'the crashed peer to catch up')
    assert.equal(third.global.hash, net.peers[0]!.global.hash)
    assert.deepEqual(third.rounds.filter((r) => r.round > from).map((r) => r.round),
      all.filter((r) => r > from), 'the rounds it caught up past are logged')
  } finally {
    for (const p of started) await p.stop()
    await net.close()
  }
})
