// At most one direct connection per pair of peers (node/one-connection.ts): simultaneous dials from both ends,
// and a small job after it settled.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import '../../node/polyfill.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection } from '@libp2p/interface'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'
import { duplicateInbound } from '../../node/one-connection.ts'
import { startNet, testJob, until } from './net-fixture.ts'

const direct = (c: Connection): boolean => c.status === 'open' && !c.remoteAddr.toString().includes('/p2p-circuit')
const held = (from: FeditHost, to: FeditHost): string =>
  from.getConnections(to.peerId).map((c) => `${c.direction} ${c.status} ${c.remoteAddr.toString()}`).join(', ')

test('the rules: of two connections between a pair, the one the smaller id dialled stays', () => {
  const none = { inboundRelayed: false, dialled: false, relayed: false, dialling: false }
  assert.equal(duplicateInbound('a', 'b', none), false)
  assert.equal(duplicateInbound('a', 'b', { ...none, dialled: true }), true)
  assert.equal(duplicateInbound('a', 'b', { ...none, dialling: true }), true)
  // the larger id never refuses: one refusing side cannot refuse both connections
  assert.equal(duplicateInbound('b', 'a', { ...none, dialling: true }), false)
  assert.equal(duplicateInbound('b', 'a', { ...none, dialled: true }), false)
  // a relayed connection is being upgraded by DCUtR, which dials both ways on purpose
  assert.equal(duplicateInbound('a', 'b', { ...none, dialling: true, relayed: true }), false)
  assert.equal(duplicateInbound('a', 'b', { ...none, dialled: true, inboundRelayed: true }), false)
})

test('two hosts dialling each other at the same moment end with one connection', async () => {
  const hosts: FeditHost[] = []
  try {
    for (let i = 0; i < 2; i++) {
      hosts.push(await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
        local: true }))
    }
    const [a, b] = hosts as [FeditHost, FeditHost]
    for (let k = 0; k < 5; k++) {
      const signal = AbortSignal.timeout(10_000)
      // one of the two dials may be refused in favour of the other: both ends then use the one that stood
      const dials = await Promise.allSettled([a.dial(b.getMultiaddrs(), { signal }),
        b.dial(a.getMultiaddrs(), { signal })])
      // a refused dial's connection may count as open at its dialler for a moment, until the refusal arrives
      const one = (): boolean => {
        const [x, y] = [a.getConnections(b.peerId).filter(direct), b.getConnections(a.peerId).filter(direct)]
        return x.length === 1 && y.length === 1 && x[0]!.direction !== y[0]!.direction
      }
      // a failure names what each end holds and how each dial ended: the race it lost cannot be rerun
      const seen = (): string => `a${a.peerId.toString() < b.peerId.toString() ? ' (smaller id)' : ''} holds ` +
        `[${held(a, b)}], b holds [${held(b, a)}]; dials: ` +
        dials.map((d) => d.status === 'fulfilled' ? 'ok' : String(d.reason)).join(' | ')
      await until(one, 10_000, 'one connection, the same at both ends')
        .catch((err: Error) => { throw new Error(`try ${k}: ${err.message}: ${seen()}`) })
      const [ca, cb] = [a.getConnections(b.peerId).filter(direct), b.getConnections(a.peerId).filter(direct)]
      assert.equal(ca.length, 1, `try ${k}: a holds ${ca.length} connections to b`)
      assert.equal(cb.length, 1, `try ${k}: b holds ${cb.length} connections to a`)
      // the same connection seen from its two ends
      assert.notEqual(ca[0]!.direction, cb[0]!.direction)
      await a.hangUp(b.peerId)
      await until(() => b.getConnections(a.peerId).length === 0, 10_000, 'the hang-up to reach b')
    }
  } finally {
    await Promise.all(hosts.map(async (h) => await h.stop()))
  }
})

test('in a settled 6-peer job each pair holds at most one direct connection', async () => {
  const { job, jobId } = testJob({ rounds: 1 })
  const net = await startNet(6, job, jobId)
  try {
    await until(() => net.peers.every((p) => p.global.round >= 1), 60_000, 'the round to complete everywhere')
    for (const p of net.peers) {
      const per = new Map<string, number>()
      for (const c of p.libp2p.getConnections().filter(direct)) {
        per.set(c.remotePeer.toString(), (per.get(c.remotePeer.toString()) ?? 0) + 1)
      }
      const twice = [...per].filter(([, n]) => n > 1).map(([id]) => id.slice(-6))
      assert.deepEqual(twice, [], `${p.peerId.slice(-6)} holds two connections to ${twice.join(', ')}`)
    }
  } finally {
    await net.close()
  }
})
