// Malformed, oversized, unsigned, wrong-job and forged messages and poisoned adapters are rejected, and the
// rounds go on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, StrictNoSign } from '@libp2p/gossipsub'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { RoundMessage } from '../../protocol/messages.ts'
import { roundsTopic } from '../../protocol/topics.ts'
import { MAX_GOSSIP_BYTES } from '../../protocol/limits.ts'
import { createHost } from '../../node/host.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { createNaNTrainer } from '../../node/testing/corrupt-trainer.ts'
import { testJob, startNet, until } from './net-fixture.ts'

test('hostile messages and poisoned updates are rejected and the network keeps going', { timeout: 60_000 },
  async () => {
  const { job, jobId } = testJob({ rounds: 2, minPeers: 5, peersPerRound: 5 })
  const net = await startNet(4, job, jobId, {}, 20)
  const poisoner = await net.addPeer({ trainer: createNaNTrainer(createFakeTrainer({ lora: { ...job.lora } })) })
  const honest = net.peers.filter((p) => p !== poisoner)
  const reasons = new Set<string>()
  for (const p of honest) p.events.on('rejected', (r) => { reasons.add(r.reason.split(':')[0]!) })
  const topic = roundsTopic(jobId)
  const target = honest[0]!
  const rogue = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  const unsigned = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { allow: ['/ip4/127.0.0.1/ipcidr/32'] },
    services: { identify: identify(), pubsub: gossipsub({ globalSignaturePolicy: StrictNoSign,
      allowPublishToZeroTopicPeers: true }) }
  })
  try {
    for (const h of [rogue, unsigned]) {
      h.services.pubsub.subscribe(topic)
      for (const p of honest) await h.dial(multiaddr(p.multiaddrs()[0]!))
    }
    await until(() => rogue.services.pubsub.getSubscribers(topic).length >= 2 &&
      unsigned.services.pubsub.getSubscribers(topic).length >= 2, 10_000, 'rogues to see the topic')
    const hash = new Uint8Array(Buffer.from(target.global.hash, 'hex'))
    const rogueId = rogue.peerId.toString()
    const sends: Array<[string, Uint8Array]> = [
      ['malformed', new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])],
      ['oversized', new Uint8Array(MAX_GOSSIP_BYTES + 100).fill(1)],
      ['wrong_job', RoundMessage.encode({ hello: { jobId: 'e'.repeat(64), round: 9, globalHash: hash, device: 'cpu',
        tokensPerSecond: 0, samples: 1, intervalMs: 0, reachability: 0, beacon: hash, addrs: [] } })],
      ['announce', RoundMessage.encode({ announce: { jobId, round: 1, attempt: 0, baseHash: hash, members: [rogueId],
        selected: [rogueId], deadlineMs: BigInt(Date.now() + job.roundDeadlineSeconds * 500) } })],
      ['result', RoundMessage.encode({ result: { jobId, round: 1, attempt: 0, baseHash: hash,
        newHash: new Uint8Array(32).fill(9), selected: [rogueId], included: [rogueId], excluded: [], trainLoss: 0,
        bytes: 1n, seconds: 1, adapterBytes: 1n, updates: [] } })]
    ]
    for (const [, data] of sends) await rogue.services.pubsub.publish(topic, data)
    let unsignedSeen = 0
    const payload = RoundMessage.encode({ hello: { jobId, round: 1, globalHash: hash, device: 'cpu', tokensPerSecond: 0,
      samples: 1, intervalMs: 0, reachability: 0, beacon: hash, addrs: [] } })
    for (const p of honest) p.libp2p.services.pubsub.addEventListener('message', (e) => {
      if (Buffer.compare(Buffer.from(e.detail.data), Buffer.from(payload)) === 0) unsignedSeen++
    })
    await unsigned.services.pubsub.publish(topic, payload)

    await until(() => ['malformed', 'oversized', 'wrong_job'].every((r) => reasons.has(r)), 10_000,
      () => `gossip rejections (seen: ${[...reasons].join(', ')})`)
    await until(() => honest.every((p) => p.global.round === 2), 40_000, '2 rounds despite the poisoner')
    assert.equal(unsignedSeen, 0, 'an unsigned message reached a peer')
    assert.ok(reasons.has('unknown_members') || reasons.has('not_elected') || reasons.has('stale_round'),
      `forged announce not refused: ${[...reasons].join(', ')}`)
    assert.ok(honest.every((p) => p.rounds.every((r) => r.aggregator !== rogueId)), 'a forged result was taken')
    // two attempts of the last round may both be confirmed under load: once done, every peer takes the lower attempt
    await until(() => new Set(honest.map((p) => p.global.hash)).size === 1, 20_000, 'one global adapter')
    const log = honest[0]!.rounds
    for (const r of log.filter((x) => x.missed !== true)) { // a round it caught up past: no result seen
      assert.ok(!r.included.includes(poisoner.peerId))
      assert.match(r.excluded.find((x) => x.peer === poisoner.peerId)?.reason ?? '', /non_finite/)
    }
    for (const t of honest[0]!.global.adapter.tensors.values()) assert.ok(t.data.every(Number.isFinite))
  } finally {
    await rogue.stop()
    await unsigned.stop()
    await net.close()
  }
})
