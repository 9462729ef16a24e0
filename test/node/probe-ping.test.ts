// The aggregator's probe of a trainer while the trainer dials it to push (node/probe-ping.ts): the two dials cross,
// the larger id's gives way (one-connection.ts), and the ping must still be answered over the trainer's connection.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import '../../node/polyfill.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'
import { probePing } from '../../node/probe-ping.ts'
import { until } from './net-fixture.ts'

test('a probe whose dial crosses the trainer\'s own is answered over the trainer\'s connection', async () => {
  const hosts: FeditHost[] = []
  try {
    for (let i = 0; i < 2; i++) {
      hosts.push(await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
        local: true }))
    }
    // the aggregator is the larger id: its dial is the one that gives way
    const [trainer, aggregator] = [...hosts].sort((x, y) => x.peerId.toString() < y.peerId.toString() ? -1 : 1) as
      [FeditHost, FeditHost]
    let crossed = 0
    for (let k = 0; k < 8; k++) {
      const signal = AbortSignal.timeout(10_000)
      const [push, probe] = await Promise.allSettled([trainer.dial(aggregator.getMultiaddrs(), { signal }),
        probePing(aggregator, trainer.peerId.toString(), signal)])
      const why = (r: PromiseSettledResult<unknown>): string => r.status === 'rejected' ? String(r.reason) : 'ok'
      assert.equal(push.status, 'fulfilled', `try ${k}: the trainer's dial: ${why(push)}`)
      assert.equal(probe.status, 'fulfilled', `try ${k}: the probe: ${why(probe)}`)
      // whether the race happened this time: the aggregator holds only the trainer's connection
      if (aggregator.getConnections(trainer.peerId).every((c) => c.direction === 'inbound')) crossed++
      await aggregator.hangUp(trainer.peerId)
      await until(() => trainer.getConnections(aggregator.peerId).length === 0, 10_000,
        'the hang-up to reach the trainer')
    }
    assert.ok(crossed > 0, 'the dials never crossed: the test did not test the race')
  } finally {
    await Promise.all(hosts.map(async (h) => await h.stop()))
  }
})
