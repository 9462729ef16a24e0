// An adapter through a circuit relay, on 127.0.0.1 (no namespaces needed): a peer that listens on nothing but
// /p2p-circuit is reached through the relay; an adapter within the relay's data limit goes through it (the
// transfer says 'relayed' and why), one past it is refused up front ('relay_limit'), never cut short.
import '../../node/polyfill.ts'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'
import { fetchAdapter, serveAdapters } from '../../node/transfer.ts'
import type { FetchOptions } from '../../node/types.ts'
import type { PrivateKey } from '@libp2p/interface'
import { onTransferPath } from '../../node/transfer-path.ts'
import type { TransferPath } from '../../node/transfer-path.ts'
import { reachabilityOf } from '../../node/reachability.ts'
import { Reachability } from '../../protocol/election.ts'
import { sha256Hex } from '../../node/adapter-codec.ts'
import { TransferError } from '../../node/errors.ts'

const JOB = 'f'.repeat(64)

async function waitFor (what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const TITLE = 'adapters through a relay: within its data limit they pass (path relayed), past it they are refused'

test(TITLE, { timeout: 60_000 }, async () => {
  const hosts: FeditHost[] = []
  try {
    const key = async (): Promise<PrivateKey> => await generateKeyPair('Ed25519')
    const relay = await createHost({
      privateKey: await key(), listen: ['/ip4/127.0.0.1/tcp/0'], local: true,
      relay: { maxReservations: 4, dataBytes: 1 << 20, durationSeconds: 0 }
    })
    hosts.push(relay)
    const relayAddr = relay.getMultiaddrs()[0]!.toString()
    // the hidden peer: no TCP listener at all, so a relay is its only way in
    const hidden = await createHost({ privateKey: await key(), listen: [], local: true, nat: true,
      bootstrap: [relayAddr] })
    hosts.push(hidden)
    await waitFor('a relay reservation', () => hidden.getMultiaddrs()
      .some((a) => a.toString().includes('/p2p-circuit')))
    assert.equal(reachabilityOf(hidden.getMultiaddrs()), Reachability.Relayed)
    const small = new Uint8Array(200_000).map((_, i) => i % 251)
    const big = new Uint8Array(3 << 20).map((_, i) => i % 13)
    const held = new Map([[sha256Hex(small), small], [sha256Hex(big), big]])
    await serveAdapters(hidden, { jobId: JOB, lookup: (h) => held.get(h), timeoutMs: 20_000 })

    // no listener either: DCUtR cannot turn the relayed connection into a direct one mid-test (it did, under load)
    const asker = await createHost({ privateKey: await key(), listen: [], local: true, nat: true })
    hosts.push(asker)
    const paths: TransferPath[] = []
    onTransferPath(asker, (p) => paths.push(p))
    await asker.dial(multiaddr(`${relayAddr}/p2p-circuit/p2p/${hidden.peerId.toString()}`))

    const opts = (bytes: Uint8Array): FetchOptions => ({ jobId: JOB, maxBytes: bytes.byteLength, timeoutMs: 20_000 })
    const got = await fetchAdapter(asker, hidden.peerId, sha256Hex(small), opts(small))
    assert.deepEqual(got, small)
    assert.equal(paths.length, 1)
    assert.equal(paths[0]!.kind, 'relayed')
    assert.match(paths[0]!.why, /no direct connection; relay allows/)

    await assert.rejects(fetchAdapter(asker, hidden.peerId, sha256Hex(big), opts(big)), (e: unknown) =>
      e instanceof TransferError && e.reason === 'relay_limit' && /exceeds what the relay allows/.test(e.message))
  } finally {
    for (const h of hosts.reverse()) await h.stop()
  }
})
