// The bounded connection set (node/connection-trim.ts): which peers a member disconnects, and a job of real peers
// on 127.0.0.1 that keeps running its rounds while every member trims to a few connections.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { peersToClose } from '../../node/connection-trim.ts'
import type { LinkFacts } from '../../node/connection-trim.ts'
import { FAST, startNet, testJob, until } from './net-fixture.ts'
import type { Peer } from '../../node/peer.ts'

const NOW = 1_000_000
const link = (peer: string, o: Partial<LinkFacts> = {}): LinkFacts =>
  ({ peer, openedAt: NOW - 120_000, busy: false, member: true, spared: false, dialled: true, ...o })
const inOrder = <T>(xs: T[]): T[] => xs

test('a member under its cap closes nothing', () => {
  assert.deepEqual(peersToClose([link('a'), link('b')], 2, NOW, 60_000), [])
})

test('spared, busy, young and inbound links are never closed, even when the cap cannot be met', () => {
  const links = [link('mesh', { spared: true }), link('push', { busy: true }), link('new', { openedAt: NOW - 5000 }),
    link('theirs', { dialled: false }), link('old')]
  assert.deepEqual(peersToClose(links, 1, NOW, 60_000, inOrder), ['old'])
})

test('peers outside the job go before members, and only the excess goes', () => {
  const links = [link('m1'), link('m2'), link('dht1', { member: false }), link('m3'), link('dht2', { member: false })]
  assert.deepEqual(peersToClose(links, 3, NOW, 60_000, inOrder), ['dht1', 'dht2'])
  assert.deepEqual(peersToClose(links, 2, NOW, 60_000, inOrder), ['dht1', 'dht2', 'm1'])
})

/** the distinct peers a member is connected to */
const connectedPeers = (p: Peer): number => new Set(p.libp2p.getConnections().map((c) => String(c.remotePeer))).size

test('ten members trimming to 6 connected peers each still run every round of the job', { timeout: 120_000 },
  async () => {
    const { job, jobId } = testJob({ rounds: 4, minPeers: 10, peersPerRound: 3 })
    const net = await startNet(10, job, jobId, {
      timing: { ...FAST, maxConnectedPeers: 6, trimGraceMs: 5000, trimIntervalMs: 400 }
    })
    try {
      // with a member connected to every other (discovery, kad-dht lookups and transfers all open connections)
      // each would hold 10 (the bootstrap and 9 members)
      await until(() => net.peers.every((p) => p.global.round >= 2), 90_000, 'two rounds')
      await until(() => net.peers.reduce((s, p) => s + connectedPeers(p), 0) / net.peers.length <= 7, 20_000,
        'the members to hold 7 connected peers or fewer on average')
      const trimmed = net.peers.reduce((s, p) => s + p.trimmedPeers, 0)
      assert.ok(trimmed > 0, 'some member closed a connection')
      // the rounds after the trim: gossip and transfers still reach every member
      await until(() => net.peers.every((p) => p.global.round === 4), 90_000, 'the job\'s last round everywhere')
      assert.equal(new Set(net.peers.map((p) => p.global.hash)).size, 1, 'one global adapter')
    } finally {
      await net.close()
    }
  })
