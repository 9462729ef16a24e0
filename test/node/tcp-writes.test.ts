// One write syscall per encrypted frame (patches/@libp2p+tcp: the socket is corked while a frame's buffers, noise's
// length prefix and sealed message, are written). Unpatched, @libp2p/tcp wrote each buffer with a syscall of its
// own: with 100 peers in one process, socket writes were the largest single cost of the main thread (bench scale,
// docs/performance.md). Counted by the process's write syscalls (/proc/self/io), Linux only.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import '../../node/polyfill.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost } from '../../node/host.ts'
import { within } from './net-fixture.ts'

const PROTOCOL = '/fedit-test/drip/1.0.0'
const MESSAGES = 60
const BATCHES = 3

const writeSyscalls = (): number => Number(/^syscw: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1])

test('a small message leaves in one write syscall', { skip: !existsSync('/proc/self/io') }, async () => {
  const sink = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  let got = 0
  let all!: () => void
  const done = new Promise<void>((resolve) => { all = resolve })
  await sink.handle(PROTOCOL, async (stream) => {
    for await (const chunk of stream) {
      got += chunk.byteLength
      if (got >= MESSAGES * 200) { all(); return }
    }
  })
  const sender = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  try {
    const stream = await sender.dialProtocol(sink.getMultiaddrs()[0]!, PROTOCOL)
    await new Promise((resolve) => setTimeout(resolve, 200)) // the dial's own frames (identify) out of the way
    // in batches, one message at a time as gossip goes (a frame each, the socket idle in between); the fewest
    // writes a message over the batches: another write of the process's (the test runner's output, a keep-alive,
    // a wake-up under load: once 24 a message for a whole batch, on a machine with both cores busy) lands in one
    // batch, while a frame that leaves in two syscalls costs two in every batch
    const perBatch: number[] = []
    for (let b = 0; b < BATCHES; b++) {
      const before = writeSyscalls()
      for (let i = 0; i < MESSAGES / BATCHES; i++) {
        stream.send(new Uint8Array(200).fill(i))
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      perBatch.push((writeSyscalls() - before) / (MESSAGES / BATCHES))
    }
    await within(done, 20_000, 'the sink to read every message')
    const perMessage = Math.min(...perBatch)
    // a frame is 1; the rest is room for the process's other writes
    assert.ok(perMessage < 1.5, `${perMessage.toFixed(2)} write syscalls a message (batches: ${perBatch.join(', ')})`)
  } finally {
    await sender.stop()
    await sink.stop()
  }
})
