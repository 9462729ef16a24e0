// A peer that starts one round behind a job the others have finished (a restart from an old state, as the
// crash case of restart.test.ts) and that the election puts first for that stale round must not aggregate
// it: alone, it would make a global adapter nobody else has, and the job would end forked (seen in CI:
// "one global adapter, 2 !== 1"). It catches up with the others' final adapter instead.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { electionOrder } from '../../protocol/election.ts'
import { encodeAdapter, peftConfigJson, sha256Hex } from '../../node/adapter-codec.ts'
import { StateStore } from '../../node/state-store.ts'
import type { AnnounceEvent } from '../../node/peer.ts'
import { testJob, startNet, until } from './net-fixture.ts'

test('a peer one round behind a finished job, elected for that round, catches up instead of aggregating it',
  { timeout: 60_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 2, minPeers: 4, peersPerRound: 3 })
  const net = await startNet(4, job, jobId, {}, 60)
  try {
    // the round-1 global adapter, taken as each peer adopts it
    let round1: Uint8Array | undefined
    net.peers[0]!.events.on('result', (info) => {
      if (info.round === 1) round1 = encodeAdapter(net.peers[0]!.global.adapter)
    })
    await until(() => net.peers.every((p) => p.global.round === job.rounds), 30_000, 'the job to finish')
    assert.ok(round1 !== undefined, 'peer 0 saw round 1')
    const hash1 = net.peers[0]!.rounds.find((r) => r.round === 1)!.hash
    assert.equal(sha256Hex(round1), hash1)

    // an identity that the election puts first for round 2 on the round-1 adapter
    const ids = net.peers.map((p) => p.peerId)
    let key: PrivateKey | undefined
    for (let seed = 200; seed < 260 && key === undefined; seed++) {
      const k = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
      const id = peerIdFromPrivateKey(k).toString()
      if (electionOrder([...ids, id], hash1, 2)[0] === id) key = k
    }
    assert.ok(key !== undefined, 'found an identity elected first')

    // its state: round 1 done, as a crash after round 1 leaves it
    const stateDir = join(net.dir, 'behind')
    await new StateStore(stateDir, jobId).saveGlobal({ round: 1, hash: hash1, bytes: round1 },
      peftConfigJson({ ...job.lora }, job.baseModel.id))
    const mine: AnnounceEvent[] = []
    const behind = await net.addPeer({ privateKey: key, stateDir })
    behind.events.on('announce', (a) => { if (a.mine) mine.push(a) })
    assert.equal(behind.global.round, 1)
    await until(() => behind.global.round === job.rounds, 20_000, 'the peer behind to catch up')
    assert.equal(behind.global.hash, net.peers[0]!.global.hash, 'the others\' final adapter')
    assert.deepEqual(mine.map((a) => `${a.round}/${a.attempt}`), [], 'it announced no round')
  } finally {
    await net.close()
  }
})
