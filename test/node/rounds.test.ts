// A bootstrap and 6 peers on 127.0.0.1: DHT discovery, 3 rounds, rotating aggregators, one global adapter.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { testJob, startNet, until } from './net-fixture.ts'

test('6 peers discover each other through the DHT and complete 3 rounds with rotating aggregators', { timeout: 60_000 },
  async () => {
  const { job, jobId } = testJob({ rounds: 3 })
  const net = await startNet(6, job, jobId)
  try {
    const ids = net.peers.map((p) => p.peerId)
    // discovery: every peer sees every other one as a live member (Hello over the gossip mesh the DHT built)
    await until(() => net.peers.every((p) => p.members().length === 6), 20_000, 'all peers to see 6 members')
    await until(() => net.peers.every((p) => p.global.round === 3), 30_000, '3 rounds on every peer')
    const hashes = new Set(net.peers.map((p) => p.global.hash))
    assert.equal(hashes.size, 1, 'every peer ends with the same global adapter')
    const log = net.peers[0]!.rounds
    assert.deepEqual(log.map((r) => r.round), [1, 2, 3])
    const aggregators = new Set(log.map((r) => r.aggregator))
    for (const r of log) {
      assert.ok(ids.includes(r.aggregator))
      assert.equal(r.selected.length, 3)
      assert.ok(r.included.length >= 1)
      assert.ok(r.bytes > 0 || r.included.every((p) => p === r.aggregator))
    }
    assert.equal(log.at(-1)!.hash, net.peers[0]!.global.hash)
    // capabilities: a peer that trained advertises the speed its trainer measured, and the others see it
    const trainedPeers = net.peers.filter((p) => p.measuredTokensPerSecond > 0)
    assert.ok(trainedPeers.length >= 3, 'peers that trained measured their speed')
    await until(() => trainedPeers.every((t) => net.peers.some((o) => o.memberStatus()
      .find((s) => s.peer === t.peerId)?.capabilities?.tokensPerSecond === t.measuredTokensPerSecond)), 5_000,
      'the measured tokens/s in the others\' view')
    // identities are fixed, so the elections are the same every run (checked: they rotate)
    assert.ok(aggregators.size >= 2, `aggregators: ${[...aggregators].join(', ')}`)
  } finally {
    await net.close()
  }
})
