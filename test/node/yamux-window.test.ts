// Yamux flow control on real connections (patches/@libp2p+yamux: a window update once half the window is consumed,
// as hashicorp/yamux and rust-yamux send it). Unpatched, @libp2p/yamux sent one after every data frame: each small
// gossip or DHT message cost two frames. Checked by the sender's credit: after small messages it is not topped up,
// and a transfer of many windows still completes (the updates still come, once half is consumed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import '../../node/polyfill.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'

const PROTOCOL = '/fedit-test/sink/1.0.0'
/** yamux's initial stream window */
const WINDOW = 256 * 1024

/** A sink that answers one byte once it has read `expect` bytes. */
async function sinkHost (expect: () => number): Promise<FeditHost> {
  const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  await host.handle(PROTOCOL, async (stream) => {
    let got = 0
    for await (const chunk of stream) {
      got += chunk.byteLength
      if (got >= expect()) break
    }
    stream.send(new Uint8Array([1]))
    await stream.close()
  })
  return host
}

async function readOne (stream: Stream): Promise<void> {
  for await (const chunk of stream) if (chunk.byteLength > 0) return
  throw new Error('stream ended before the answer')
}

test('small messages leave the sender\'s window unrefreshed; a transfer of 12 windows still completes', async () => {
  let expect = 0
  const sink = await sinkHost(() => expect)
  const sender = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  try {
    // 40 messages of 200 bytes (a Hello's size), then the sink's answer: any window update it sent came before it
    expect = 40 * 200
    const small = await sender.dialProtocol(sink.getMultiaddrs()[0]!, PROTOCOL)
    for (let i = 0; i < 40; i++) small.send(new Uint8Array(200).fill(i))
    await readOne(small)
    const credit = (small as unknown as { sendWindowCapacity: number }).sendWindowCapacity
    assert.equal(credit, WINDOW - expect, 'no window update for 8 kB of a 256 kB window')
    await small.close()
    // 3 MB in 64 kB messages: without updates at half the window the sender would stall after 256 kB
    expect = 3 * 1024 * 1024
    const big = await sender.dialProtocol(sink.getMultiaddrs()[0]!, PROTOCOL)
    for (let sent = 0; sent < expect; sent += 65536) {
      if (!big.send(new Uint8Array(65536))) await big.onDrain()
    }
    await readOne(big)
    await big.close()
  } finally {
    await sender.stop()
    await sink.stop()
  }
})
