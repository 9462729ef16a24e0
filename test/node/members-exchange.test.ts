// /fedit/members: a newcomer to a quiet job counts its members in one round trip instead of one idle Hello
// interval, and a server that lies (forged, foreign, garbage, unpaid Hellos) gets each refused with its reason.
// Real peers on 127.0.0.1; the liar is a stock host with keys it made itself.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { FAST, testJob, startNet, until } from './net-fixture.ts'
import { idleIntervalMs } from '../../node/member-view.ts'
import { createHost } from '../../node/host.ts'
import { frame, ChunkReader } from '../../node/transfer.ts'
import { sealEnvelope } from '../../node/gossip-envelope.ts'
import { MembersReply } from '../../protocol/messages.ts'
import { MEMBERS_PROTOCOL, roundsTopic } from '../../protocol/topics.ts'
import { MAX_HEADER_BYTES } from '../../protocol/limits.ts'
import { solvePow } from '../../protocol/membership.ts'
import type { Hello } from '../../protocol/messages.ts'
import { RoundMessage } from '../../protocol/messages.ts'

const PEERS = 10
// 300 ms x 10 / 0.02 = 150 s, capped at 120 s, between a quiet member's Hellos (the next one drawn 60-120 s on):
// without the exchange a newcomer waits that long
const TIMING = { ...FAST, largeJobMembers: 3, idleHellosPerHeartbeat: 0.02 }
/** gossipsub hands a newly grafted peer what its message cache holds (5 heartbeats of 3 s, node/host.ts) */
const GOSSIP_CACHE_MS = 16_000
const QUIET_MS = idleIntervalMs({ baseMs: FAST.heartbeatMs!, ...TIMING }, PEERS)
/** well under half a quiet interval: only the exchange (or a Hello at the heartbeat) makes it (6 s timed out once in
 * CI; why is not known: the count it printed was the one before the wait, and the newcomer's lines were not kept) */
const KNOWN_WITHIN_MS = 15_000

test('a newcomer to a quiet job counts every member in one round trip, and they count it', { timeout: 240_000 },
  async () => {
  assert.ok(QUIET_MS > 4 * KNOWN_WITHIN_MS, `quiet interval ${QUIET_MS} ms`)
  // minPeers above the job's size: no round starts. The members round 1 would draw (aggregator, next, one
  // trainer, one witness) Hello at the heartbeat; the others go quiet
  const { job, jobId } = testJob({ rounds: 1, minPeers: 50, peersPerRound: 1, witnesses: { count: 1, quorum: 1 } })
  const net = await startNet(0, job, jobId, { timing: TIMING }, 180)
  try {
    for (let i = 0; i < PEERS; i++) await net.addPeer()
    // set-up: a founder whose asks all went to founders that knew no more waits for a quiet Hello (at most 120 s)
    await until(() => net.peers.every((p) => p.members().length === PEERS), 130_000, 'every founder to see the others')
    // most founders have gone quiet, and their last Hellos have left gossipsub's message cache: they do not Hello
    // again within the test's window, and gossip cannot hand their last ones to a newcomer
    await until(() => net.peers.every((p) => p.memberStatus().filter((s) => s.intervalMs > 2 * KNOWN_WITHIN_MS &&
      Date.now() - s.seenAt > GOSSIP_CACHE_MS).length >= PEERS / 2), 40_000, 'the founders to go quiet')
    const t0 = Date.now()
    const lines: string[] = []
    const newcomer = await net.addPeer({ logger: (l) => { lines.push(l) } })
    await until(() => newcomer.members().length === PEERS + 1, KNOWN_WITHIN_MS, () =>
      `the newcomer to count every member (it counts ${newcomer.members().length}; its lines:\n${lines.join('\n')})`)
    await until(() => net.peers.every((p) => p.members().includes(newcomer.peerId)), KNOWN_WITHIN_MS,
      'every member to count the newcomer')
    assert.ok(Date.now() - t0 < 2 * KNOWN_WITHIN_MS)
    assert.ok(lines.some((l) => /^members: \d+ Hellos from \w+ \(joining\)/.test(l)), lines.join('\n'))
    // what it learnt is what the members said of themselves, not the server's word
    const them = newcomer.memberStatus()
    for (const p of net.peers.filter((x) => x !== newcomer)) {
      const s = them.find((x) => x.peer === p.peerId)
      assert.ok(s !== undefined && s.hash === p.global.hash && s.round === 0, `status of ${p.peerId.slice(-6)}`)
    }
  } finally {
    await net.close()
  }
})

test('a members server that lies gets each Hello refused with its reason, and the asker goes on',
  { timeout: 60_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 1, minPeers: 50 })
  const topic = roundsTopic(jobId)
  const net = await startNet(0, job, jobId, { timing: TIMING }, 190)
  const liarKey = await generateKeyPair('Ed25519')
  const liar = await createHost({ privateKey: liarKey, listen: ['/ip4/127.0.0.1/tcp/0'], local: true })
  const liarId = peerIdFromPrivateKey(liarKey)
  const victimKey = await generateKeyPair('Ed25519')
  const victimOf = peerIdFromPrivateKey(victimKey) // an identity the liar pretends to speak for
  const hello = (from: string): Hello => ({ jobId, round: 0, globalHash: new Uint8Array(32), device: 'cpu',
    tokensPerSecond: 0, samples: 1, intervalMs: 300, reachability: 0, beacon: new Uint8Array(32), addrs: [],
    powNonce: solvePow(jobId, from, job.membership?.powBits ?? 16) })
  const enc = (h: Hello): Uint8Array => RoundMessage.encode({ hello: h })
  const me = liarId.toMultihash().bytes
  const replies: Array<Uint8Array<ArrayBuffer>> = [
    // the victim's Hello, paid, but signed by the liar: bad_signature
    await sealEnvelope(liarKey, victimOf.toMultihash().bytes, topic, enc(hello(victimOf.toString()))),
    // the liar's own Hello, on another job's topic: wrong_job
    await sealEnvelope(liarKey, me, roundsTopic('e'.repeat(64)), enc(hello(liarId.toString()))),
    // not an envelope: malformed
    new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]),
    // a signed announce handed on as a Hello: malformed
    await sealEnvelope(liarKey, me, topic, RoundMessage.encode({ announce: { jobId, round: 1, attempt: 0,
      baseHash: new Uint8Array(32), members: [], selected: [], deadlineMs: 0n } })),
    // the liar's own Hello with no proof of work: bad_proof_of_work
    await sealEnvelope(liarKey, me, topic, enc({ ...hello(liarId.toString()), powNonce: 1n }))
  ]
  let asked = 0
  await liar.handle(MEMBERS_PROTOCOL, async (stream) => {
    asked++
    await new ChunkReader(stream).readFrame(AbortSignal.timeout(5000), MAX_HEADER_BYTES)
    stream.send(frame(MembersReply.encode({ hellos: replies, agesMs: replies.map(() => 0), reason: '' })))
    await stream.close()
  })
  liar.services.pubsub.subscribe(topic)
  try {
    const reasons: string[] = []
    // the asker's only peer on the job's topic is the liar, so the liar is whom it asks
    const asker = await net.addPeer()
    asker.events.on('rejected', (r) => { if (r.where === 'members') reasons.push(r.reason.split(':')[0]!) })
    await liar.dial(multiaddr(asker.multiaddrs()[0]!))
    await until(() => asked > 0 && reasons.length >= replies.length, 20_000,
      `the asker to refuse every lie (asked ${asked}; refused: ${reasons.join(', ')})`)
    for (const r of ['bad_signature', 'wrong_job', 'malformed', 'bad_proof_of_work']) {
      assert.ok(reasons.includes(r), `${r} not among ${reasons.join(', ')}`)
    }
    assert.ok(!asker.members().includes(victimOf.toString()), 'a forged Hello made its victim a member')
    assert.ok(!asker.members().includes(liarId.toString()), 'an unpaid Hello made the liar a member')
    // the asker is still up, and a real member joining is counted by the usual gossip
    const member = await net.addPeer()
    await until(() => asker.members().includes(member.peerId), 20_000, 'the asker to count a real member')
  } finally {
    await liar.stop()
    await net.close()
  }
})
