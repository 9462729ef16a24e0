// Adapter transfer streams between two real hosts: verified fetch, corrupt and oversized bodies refused,
// update pushes acknowledged or refused before the body is read; and the allow-list keeps outsiders out.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'
import { fetchAdapter, pushUpdate, serveAdapters, serveUpdates, tryLimitMs, withRetries } from '../../node/transfer.ts'
import { sha256Hex, encodeAdapter, decodeAdapter, layoutOf } from '../../node/adapter-codec.ts'
import { TransferError } from '../../node/errors.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { DEFAULT_LORA } from '../../trainer/lora/adapter.ts'
import { until } from './net-fixture.ts'

const JOB = 'a'.repeat(64)
async function host (allowList?: Set<string>): Promise<FeditHost> {
  return await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], local: true,
    allowList })
}

test('fetch by hash: verified, corrupt refused, oversized refused, unknown not found', { timeout: 20_000 },
  async () => {
  const [a, b] = [await host(), await host()]
  try {
    const good = new Uint8Array(randomBytes(3 * (1 << 20) + 17))
    const goodHash = sha256Hex(good)
    const liarHash = 'b'.repeat(64) // the server claims these bytes under a hash they do not have
    await serveAdapters(a, { jobId: JOB, timeoutMs: 5000, lookup: (h) => h === goodHash || h === liarHash ? good
      : undefined })
    await b.dial(multiaddr(a.getMultiaddrs()[0]!))
    const got = await fetchAdapter(b, a.peerId, goodHash, { jobId: JOB, maxBytes: 8 << 20, timeoutMs: 5000 })
    assert.equal(sha256Hex(got), goodHash)
    await assert.rejects(fetchAdapter(b, a.peerId, liarHash, { jobId: JOB, maxBytes: 8 << 20, timeoutMs: 5000 }),
      (e: TransferError) => e.reason === 'hash_mismatch')
    await assert.rejects(fetchAdapter(b, a.peerId, goodHash, { jobId: JOB, maxBytes: 1 << 20, timeoutMs: 5000 }),
      (e: TransferError) => e.reason === 'oversized')
    await assert.rejects(fetchAdapter(b, a.peerId, 'c'.repeat(64), { jobId: JOB, maxBytes: 8 << 20, timeoutMs: 5000 }),
      (e: TransferError) => e.reason === 'not_found')
  } finally {
    await a.stop(); await b.stop()
  }
})

test('update push: refused before the body when not admitted; a corrupt body is refused; good ones acked',
  { timeout: 20_000 }, async () => {
  const [agg, member] = [await host(), await host()]
  try {
    const taken: number[] = []
    await serveUpdates(agg, {
      jobId: JOB, maxBytes: 1 << 20, timeoutMs: 5000,
      admit: (_s, h) => h.round === 1 ? { ok: true } : { ok: false, reason: 'wrong_round' },
      accept: async (_s, h, bytes) => {
        taken.push(bytes.byteLength)
        return h.samples > 0 ? { ok: true } : { ok: false, reason: 'x' }
      }
    })
    await member.dial(multiaddr(agg.getMultiaddrs()[0]!))
    const body = new Uint8Array(randomBytes(200_000))
    const header = { jobId: JOB, round: 1, attempt: 0, baseHash: new Uint8Array(32), samples: 3, trainLoss: 1,
      size: BigInt(body.length), adapterHash: new Uint8Array(Buffer.from(sha256Hex(body), 'hex')) }
    assert.deepEqual(await pushUpdate(member, agg.peerId, header, body, 5000), { accepted: true, reason: '' })
    assert.equal((await pushUpdate(member, agg.peerId, { ...header, round: 2 }, body, 5000)).reason, 'wrong_round')
    const corrupt = body.slice(); corrupt[100]! ^= 1
    assert.equal((await pushUpdate(member, agg.peerId, header, corrupt, 5000)).reason, 'hash_mismatch')
    assert.match((await pushUpdate(member, agg.peerId, { ...header, size: 2n << 20n }, body, 5000)).reason,
      /^oversized/)
    assert.deepEqual(taken, [200_000])
  } finally {
    await agg.stop(); await member.stop()
  }
})

test('withRetries retries broken transfers but not refusals', async () => {
  let n = 0
  assert.equal(await withRetries(3, async () => {
    if (++n < 3) throw new TransferError('truncated')
    return 'ok'
  }), 'ok')
  n = 0
  await assert.rejects(withRetries(3, async () => { n++; throw new TransferError('hash_mismatch') }))
  assert.equal(n, 1)
})

test('the time limit of a transfer try: 5 s at least, 250 kB/s, doubled with each retry, capped by the timeout', () => {
  assert.deepEqual([0, 1, 2, 3].map((i) => tryLimitMs(100_000, i, 120_000)), [5000, 10_000, 20_000, 40_000])
  assert.equal(tryLimitMs(16_777_216, 0, 600_000), 16_777_216 / 250, 'a 7B adapter: its bytes at 250 kB/s')
  assert.equal(tryLimitMs(100_000, 5, 30_000), 30_000, 'never past the transfer timeout')
})

test('adapter codec: round trip, and wrong names, shapes, dtypes, NaN and truncation are refused', () => {
  const t = createFakeTrainer({ lora: { ...DEFAULT_LORA, targetModules: ['q_proj', 'v_proj'] } })
  const a = t.initialAdapter(1)
  const layout = layoutOf(a)
  const bytes = encodeAdapter(a)
  const d = decodeAdapter(bytes, layout, 1 << 20)
  assert.ok(d.ok)
  assert.equal(sha256Hex(encodeAdapter(d.adapter)), sha256Hex(bytes))
  const other = createFakeTrainer({ lora: { ...DEFAULT_LORA, targetModules: ['q_proj', 'k_proj'] } }).initialAdapter(1)
  const wide = createFakeTrainer({ lora: { ...DEFAULT_LORA, targetModules: ['q_proj', 'v_proj'] }, dim: 8 })
    .initialAdapter(1)
  const nan = new Map(a.tensors); const [n0, t0] = [...a.tensors][0]!;
    nan.set(n0, { shape: t0.shape, data: t0.data.map(() => Number.NaN) })
  const reason = (b: Uint8Array, cap = 1 << 20): string => {
    const r = decodeAdapter(b, layout, cap)
    return r.ok ? 'ok' : r.reason
  }
  assert.match(reason(encodeAdapter(other)), /^bad_tensors: unexpected/)
  assert.match(reason(encodeAdapter(wide)), /^bad_tensors: .* has shape/)
  assert.match(reason(encodeAdapter({ config: a.config, tensors: nan })), /^non_finite/)
  assert.match(reason(bytes.subarray(0, bytes.length - 4)), /^corrupt/)
  assert.match(reason(bytes, 100), /^oversized/)
})

test('allow-list: an outsider can neither connect nor be connected to', { timeout: 20_000 }, async () => {
  const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')]
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const allow = new Set(keys.map((k) => peerIdFromPrivateKey(k).toString()))
  const mk = async (k: typeof keys[0]): Promise<FeditHost> => await createHost({ privateKey: k,
    listen: ['/ip4/127.0.0.1/tcp/0'], local: true, allowList: allow })
  const [a, b] = [await mk(keys[0]!), await mk(keys[1]!)]
  const outsider = await host()
  try {
    await b.dial(multiaddr(a.getMultiaddrs()[0]!))
    assert.equal(b.getConnections(a.peerId).length, 1)
    // the outsider's handshake may complete on its side before `a` drops it: what matters is that nothing stays open
    await outsider.dial(multiaddr(a.getMultiaddrs()[0]!)).catch(() => {})
    await until(() => a.getConnections(outsider.peerId).length === 0 && outsider.getConnections(a.peerId).length === 0,
      5000, 'the outsider to be dropped')
    await assert.rejects(outsider.dialProtocol(multiaddr(a.getMultiaddrs()[0]!), '/fedit/adapter/1.0.0'))
    await assert.rejects(a.dial(multiaddr(outsider.getMultiaddrs()[0]!)))
    assert.equal(a.getConnections(outsider.peerId).length, 0)
  } finally {
    await a.stop(); await b.stop(); await outsider.stop()
  }
})

test('a fetch\'s try limit starts once it holds a connection: a slow dial does not use it up', { timeout: 20_000 },
  async () => {
  const [a, b] = [await host(), await host()]
  try {
    const bytes = new Uint8Array(randomBytes(4096))
    const hash = sha256Hex(bytes)
    await serveAdapters(a, { jobId: JOB, timeoutMs: 5000, lookup: (h) => h === hash ? bytes : undefined })
    await b.peerStore.merge(a.peerId, { multiaddrs: a.getMultiaddrs() })
    // a handshake that takes its time (a loop lagging a second, a relay): 1.5 s here, against a try of 1 s
    const dial = b.dial.bind(b)
    b.dial = (async (...args: Parameters<typeof dial>) => {
      await new Promise((resolve) => setTimeout(resolve, 1500))
      return await dial(...args)
    }) as typeof dial
    const got = await fetchAdapter(b, a.peerId, hash, { jobId: JOB, maxBytes: 1 << 20, timeoutMs: 1000 })
    assert.equal(sha256Hex(got), hash)
  } finally {
    await a.stop(); await b.stop()
  }
})
