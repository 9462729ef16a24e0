// Private federation: nodes holding the swarm key connect; a node without it, or with another key, cannot.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'
import { createSwarmKeyFile, newSwarmKey, parseSwarmKey, readSwarmKeyFile } from '../../node/swarm-key.ts'

const host = async (swarmKey?: Uint8Array): Promise<FeditHost> =>
  await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], local: true,
    ...(swarmKey !== undefined ? { swarmKey } : {}) })

test('with the swarm key a node connects; without it or with another key it cannot', { timeout: 30_000 }, async () => {
  const key = newSwarmKey()
  const hosts = await Promise.all([host(key), host(key), host(), host(newSwarmKey())])
  const [member, sameKey, noKey, otherKey] = hosts
  try {
    const addr = multiaddr(member!.getMultiaddrs()[0]!)
    const conn = await sameKey!.dial(addr, { signal: AbortSignal.timeout(5000) })
    assert.equal(conn.remotePeer.toString(), member!.peerId.toString())
    assert.ok(await sameKey!.services.ping.ping(member!.peerId, { signal: AbortSignal.timeout(5000) }) >= 0)
    for (const [name, outsider] of [['no key', noKey!], ['another key', otherKey!]] as const) {
      // without the key the far side never completes the first exchange: the dial fails (or hangs until aborted)
      await assert.rejects(outsider.dial(addr, { signal: AbortSignal.timeout(1500) }), `${name}: dial in must fail`)
      await assert.rejects(member!.dial(multiaddr(outsider.getMultiaddrs()[0]!), { signal: AbortSignal.timeout(1500) }),
        `${name}: dial out must fail`)
      assert.equal(outsider.getConnections(member!.peerId).length, 0)
    }
  } finally {
    await Promise.all(hosts.map(async (h) => await h.stop()))
  }
})

test('swarm key files: written 0600, read back, bad ones refused with file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-swarm-'))
  try {
    const path = join(dir, 'swarm.key')
    const key = createSwarmKeyFile(path)
    assert.equal(statSync(path).mode & 0o777, 0o600)
    assert.deepEqual(Buffer.from(readSwarmKeyFile(path)).toString(), Buffer.from(key).toString().trim())
    assert.throws(() => createSwarmKeyFile(path), /already exists/)
    const bad = join(dir, 'bad.key')
    writeFileSync(bad, '/key/swarm/psk/1.0.0/\n/base16/\nabc\n')
    assert.throws(() => readSwarmKeyFile(bad), (e: Error) => e.name === 'SwarmKeyError' &&
      /bad\.key:3: expected 64 hex digits/.test(e.message))
    assert.throws(() => parseSwarmKey(new TextEncoder().encode('hello'), 'x'), /x:1: expected/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
