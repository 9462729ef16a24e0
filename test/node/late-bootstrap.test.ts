// Peers started before their bootstrap node is up. libp2p's bootstrap discovery dials the configured nodes once,
// at start: a peer whose dial failed then walked an empty DHT for good. In one process with 50 peers this left a
// fifth of them alone (their handshake with the busy bootstrap timed out), and the job split (bench scale).
// Discovery now dials the bootstrap again while a peer holds no connection, and says why it cannot.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { startBootstrap } from '../../bootstrap/bootstrap-node.ts'
import { startNet, testJob, until } from './net-fixture.ts'

/** a port nothing listens on now (the bootstrap takes it later) */
async function freePort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise((resolve) => srv.close(resolve))
  return port
}

test('peers started before their bootstrap join each other once it is up', async () => {
  const { job, jobId } = testJob({ minPeers: 2 })
  const key = await generateKeyPair('Ed25519')
  const port = await freePort()
  const addr = `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPrivateKey(key).toString()}`
  const lines: string[] = []
  const net = await startNet(0, job, jobId)
  let boot: Awaited<ReturnType<typeof startBootstrap>> | undefined
  try {
    const a = await net.addPeer({ bootstrap: [addr], logger: (l) => { lines.push(l) } })
    const b = await net.addPeer({ bootstrap: [addr] })
    // the failed first dial is libp2p's; the next one, discovery's, is what the user is told of
    await until(() => lines.some((l) => l.includes('no bootstrap answered')), 20_000, 'a line naming the bootstrap')
    assert.ok(lines.some((l) => l.includes(addr)), 'the line names the bootstrap address')
    assert.equal(a.libp2p.getConnections().length, 0)
    boot = await startBootstrap({ privateKey: key, listen: [`/ip4/127.0.0.1/tcp/${port}`], local: true })
    await until(() => a.members().includes(b.peerId) && b.members().includes(a.peerId), 60_000,
      'the two peers to see each other live')
  } finally {
    await net.close()
    await boot?.stop()
  }
})
