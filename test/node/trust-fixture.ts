// Shared pieces of the trust tests (trustless.test.ts, bad-member.test.ts): the attacks' bytes, the rejections
// honest peers log, what an honest end of the job is, a rogue libp2p node and the fixture's fixed identities.
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { JobSpec } from '../../protocol/job-spec.ts'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'
import type { Peer } from '../../node/peer.ts'
import { until } from './net-fixture.ts'
import type { Net } from './net-fixture.ts'

export const H = (fill: number): Uint8Array<ArrayBuffer> => new Uint8Array(32).fill(fill)

/** the labels (before any ": detail") of every rejection the peers log from now on */
export function collectReasons (peers: readonly Peer[]): Set<string> {
  const reasons = new Set<string>()
  for (const p of peers) p.events.on('rejected', (r) => { reasons.add(r.reason.split(':')[0]!) })
  return reasons
}

/** every honest peer finished on one adapter, made only by honest aggregators (and, `trainers`, honest updates) */
export function assertHonestEnd (honest: readonly Peer[], job: JobSpec, bad: ReadonlySet<string>,
  trainers = true): void {
  assert.ok(honest.every((p) => p.global.round === job.rounds))
  assert.equal(new Set(honest.map((p) => p.global.hash)).size, 1, 'one global adapter')
  for (const p of honest) {
    for (const r of p.rounds) {
      assert.ok(!bad.has(r.aggregator), `round ${r.round} adopted from ${r.aggregator}`)
      if (trainers) assert.ok(r.included.every((x) => !bad.has(x)), `round ${r.round} included an update of theirs`)
    }
  }
}

/** a stock libp2p node with fresh keys (`key`, to sign with), on the job's topic, dialled to every peer of `net` */
export async function rogue (net: Net, topic: string): Promise<{ host: FeditHost, id: string, key: PrivateKey }> {
  const key = await generateKeyPair('Ed25519')
  const host = await createHost({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], local: true })
  host.services.pubsub.subscribe(topic)
  // a dial may time out on a loaded machine: the rogue needs only some of them
  for (const p of net.peers) await host.dial(multiaddr(p.multiaddrs()[0]!)).catch(() => {})
  await until(() => host.services.pubsub.getSubscribers(topic).length >= 2, 10_000, 'the rogue to see the topic')
  return { host, id: host.peerId.toString(), key }
}

/** ids of the identities startNet gives peers seedBase + 1, + 2, ... (so a test can pick who is elected) */
export async function idsOf (n: number, seedBase: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    ids.push(peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seedBase + i + 1)))
      .toString())
  }
  return ids
}

/**
 * Every honest peer excludes `offender` (only it), and some state folder keeps evidence `kind` (of `round`) against
 * it: the offender is excluded in memory before the file is written, so the file is awaited.
 */
export async function untilEvidence (honest: readonly Peer[], net: Net, offender: string, kind: string,
  round?: number): Promise<void> {
  for (const p of honest) assert.deepEqual(p.excluded(), [offender], 'every honest peer excludes the offender')
  const prefix = round === undefined ? `${kind}-r` : `${kind}-r${round}-`
  const kept = (): boolean => readdirSync(net.dir).map((d) => join(net.dir, d, 'evidence')).filter((d) => existsSync(d))
    .some((d) => readdirSync(d).some((f) => f.startsWith(prefix) && f.includes(offender.slice(-12))))
  await until(kept, 10_000, `evidence ${prefix}* kept in a state folder`)
}
