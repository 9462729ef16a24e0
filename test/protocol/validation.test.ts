import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeRoundMessage, decodeUpdateHeader } from '../../protocol/validation.ts'
import { checkUpdate, isResend } from '../../protocol/round-rules.ts'
import { RoundMessage, UpdateHeader } from '../../protocol/messages.ts'
import type { RoundAnnounce } from '../../protocol/messages.ts'
import { MAX_ADDR_BYTES, MAX_GOSSIP_BYTES, MAX_HELLO_ADDRS, MAX_HELLO_INTERVAL_MS } from '../../protocol/limits.ts'
import { multiaddr } from '@multiformats/multiaddr'

const job = 'f'.repeat(64)
const H = new Uint8Array(32).fill(7)
const HEX = '07'.repeat(32)
const members = ['12D3KooWAa', '12D3KooWBb', '12D3KooWCc', '12D3KooWDd']

function announce (over: Partial<RoundAnnounce> = {}): RoundAnnounce {
  return { jobId: job, round: 1, attempt: 0, baseHash: H, members, selected: members.slice(0, 2),
    deadlineMs: BigInt(Date.now() + 10_000), ...over }
}

test('a well-formed announce decodes', () => {
  const r = decodeRoundMessage(RoundMessage.encode({ announce: announce() }), job)
  assert.equal(r.valid, true)
  assert.equal(r.valid && r.message.kind, 'announce')
})

test('malformed, oversized, wrong-job and inconsistent messages are rejected with reasons', () => {
  const reason = (b: Uint8Array): string => {
    const r = decodeRoundMessage(b, job)
    assert.equal(r.valid, false)
    return r.valid ? '' : r.reason
  }
  assert.match(reason(new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02])), /^malformed/)
  assert.match(reason(new Uint8Array(MAX_GOSSIP_BYTES + 1)), /^oversized/)
  assert.match(reason(RoundMessage.encode({})), /^malformed: 0 payloads/)
  assert.match(reason(RoundMessage.encode({ announce: announce({ jobId: 'other' }) })), /^wrong_job/)
  const hello = { jobId: job, round: 1, globalHash: H, device: 'cpu', tokensPerSecond: 0, samples: 1, reachability: 0,
    beacon: H, addrs: [] }
  assert.equal(decodeRoundMessage(RoundMessage.encode({ hello: { ...hello, intervalMs: MAX_HELLO_INTERVAL_MS } }),
    job).valid, true)
  assert.match(reason(RoundMessage.encode({ hello: { ...hello, intervalMs: MAX_HELLO_INTERVAL_MS + 1 } })),
    /^bad_field: intervalMs/)
  // listen addresses: up to MAX_HELLO_ADDRS multiaddrs of MAX_ADDR_BYTES at most
  const addr = Uint8Array.from(multiaddr('/ip4/127.0.0.1/tcp/4001').bytes)
  const withAddrs = (addrs: Array<Uint8Array<ArrayBuffer>>): Uint8Array =>
    RoundMessage.encode({ hello: { ...hello, intervalMs: 0, addrs } })
  assert.equal(decodeRoundMessage(withAddrs(Array(MAX_HELLO_ADDRS).fill(addr)), job).valid, true)
  assert.match(reason(withAddrs(Array(MAX_HELLO_ADDRS + 1).fill(addr))), /^bad_field: addrs: 5 > 4/)
  assert.match(reason(withAddrs([new Uint8Array(MAX_ADDR_BYTES + 1)])), /^bad_field: addrs: one of 129/)
  assert.match(reason(withAddrs([Uint8Array.from([0xff, 0xff, 0xff, 1])])), /^bad_field: addrs: not a multiaddr/)
  assert.match(reason(RoundMessage.encode({ announce: announce({ baseHash: new Uint8Array(3) }) })),
    /^bad_field: baseHash/)
  assert.match(reason(RoundMessage.encode({ announce: announce({ selected: ['12D3KooWZz'] }) })), /subset/)
  assert.match(reason(RoundMessage.encode({ announce: announce({ members: ['not a peer id!'] }) })), /not a peer id/)
  assert.match(reason(RoundMessage.encode({ result: { jobId: job, round: 1, attempt: 0, baseHash: H, newHash: H,
    selected: [], included: [], excluded: [], trainLoss: 0, bytes: 0n, seconds: 1, adapterBytes: 0n, updates: [] } })),
    /no included/)
})

test('update headers: size cap and hash length', () => {
  const h = { jobId: job, round: 1, attempt: 0, baseHash: H, samples: 5, trainLoss: 1, size: 100n, adapterHash: H }
  assert.equal(decodeUpdateHeader(UpdateHeader.encode(h), job, 1000).valid, true)
  const r = decodeUpdateHeader(UpdateHeader.encode({ ...h, size: 5000n }), job, 1000)
  assert.ok(!r.valid && r.reason.startsWith('oversized'))
})

test('update rules: late, duplicate, wrong-round and unselected updates are refused', () => {
  const h = { jobId: job, round: 2, attempt: 0, baseHash: H, samples: 5, trainLoss: 1, size: 100n, adapterHash: H }
  const now = 1000
  const ctx = { sender: 'A', round: 2, attempt: 0, baseHash: HEX, selected: new Set(['A', 'B']),
    received: new Set<string>(), deadlineMs: 2000, nowMs: now, closed: false }
  assert.deepEqual(checkUpdate(h, HEX, ctx), { ok: true })
  assert.deepEqual(checkUpdate({ ...h, round: 1 }, HEX, ctx), { ok: false, reason: 'wrong_round' })
  assert.deepEqual(checkUpdate(h, '00', ctx), { ok: false, reason: 'wrong_base' })
  assert.deepEqual(checkUpdate(h, HEX, { ...ctx, sender: 'C' }), { ok: false, reason: 'not_selected' })
  assert.deepEqual(checkUpdate(h, HEX, { ...ctx, received: new Set(['A']) }), { ok: false, reason: 'duplicate' })
  assert.deepEqual(checkUpdate(h, HEX, { ...ctx, nowMs: 3000 }), { ok: false, reason: 'late' })
})

test('a resend is the very update taken: same round, attempt, base, hash, weight and signature', () => {
  const sig = new Uint8Array(64).fill(3)
  const h = { jobId: job, round: 2, attempt: 0, baseHash: H, samples: 5, trainLoss: 1, size: 100n, adapterHash: H,
    signature: sig }
  const at = { round: 2, attempt: 0, baseHash: HEX }
  const taken = { hash: H, samples: 5, signature: sig }
  assert.equal(isResend(h, HEX, at, taken), true)
  assert.equal(isResend(h, HEX, at, undefined), false, 'nothing taken from the sender')
  assert.equal(isResend({ ...h, adapterHash: new Uint8Array(32).fill(8) }, HEX, at, taken), false, 'another update')
  assert.equal(isResend({ ...h, samples: 6 }, HEX, at, taken), false, 'another weight')
  assert.equal(isResend({ ...h, signature: new Uint8Array(64).fill(4) }, HEX, at, taken), false, 'another signature')
  assert.equal(isResend({ ...h, signature: undefined }, HEX, at, taken), false, 'unsigned')
  assert.equal(isResend({ ...h, attempt: 1 }, HEX, at, taken), false, 'another attempt')
  assert.equal(isResend(h, '00', at, taken), false, 'another base')
})
