// A push whose ack comes back too late (a busy loop: 100 peers in one process) is retried; the aggregator took the
// first try, so the retry is the same update sent again. It must get the same receipt, not a `duplicate` refusal:
// without a receipt the author cannot prove a drop (protocol/complaint.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { UpdateAck } from '../../protocol/messages.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { UPDATE_PUSH_TRIES } from '../../protocol/limits.ts'
import { TransferError } from '../../node/errors.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import type { Transport } from '../../node/types.ts'
import { testJob, startNet, until } from './net-fixture.ts'

test('an update pushed again after a lost ack is answered with the same receipt', { timeout: 60_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 2, minPeers: 3, peersPerRound: 3 })
  const tries = new Map<string, number>()
  const answers: Array<{ from: string, round: number, ack: UpdateAck }> = []
  const transport: Transport = {
    ...libp2pTransport,
    // every member's first try of a round reaches the aggregator, which takes it; its ack is thrown away as if it
    // had come after the try's time limit, and withRetries sends the update again
    pushUpdate: async (host, to, header, bytes, timeoutMs) => {
      const key = `${host.peerId.toString()}/${header.round}`
      const n = tries.get(key) ?? 0
      tries.set(key, n + 1)
      const ack = await libp2pTransport.pushUpdate(host, to, header, bytes, timeoutMs)
      if (n === 0) throw new TransferError(RejectReason.Timeout, 'ack thrown away by the test')
      answers.push({ from: host.peerId.toString(), round: header.round, ack })
      return ack
    }
  }
  const net = await startNet(3, job, jobId, { transport })
  const refused: string[] = []
  for (const p of net.peers) p.events.on('rejected', (r) => { refused.push(r.reason) })
  try {
    await until(() => net.peers.every((p) => p.global.round === 2), 40_000, '2 rounds on every peer')
    assert.ok(answers.length >= 2, `retried pushes: ${answers.length}`)
    for (const a of answers) {
      assert.equal(a.ack.accepted, true, `round ${a.round}: the resend was refused (${a.ack.reason})`)
      assert.ok(a.ack.receipt !== undefined && a.ack.receipt.byteLength > 0, 'the resend carries the receipt')
    }
    assert.ok(!refused.includes(RejectReason.Duplicate), `refusals: ${refused.join(', ')}`)
    // each update counted once: every trainer that pushed is included once
    for (const r of net.peers[0]!.rounds) {
      assert.equal(new Set(r.included).size, r.included.length)
      for (const a of answers.filter((x) => x.round === r.round)) assert.ok(r.included.includes(a.from))
    }
  } finally {
    await net.close()
  }
})

test('a member that sends its taken update again and again is refused after an honest author\'s retries',
  { timeout: 60_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 1, minPeers: 3, peersPerRound: 3 })
  const acks: UpdateAck[] = []
  let flooder: string | undefined
  const transport: Transport = {
    ...libp2pTransport,
    // the first member to push sends the same signed update UPDATE_PUSH_TRIES + 1 times in a row
    pushUpdate: async (host, to, header, bytes, timeoutMs) => {
      const me = host.peerId.toString()
      flooder ??= me
      if (me !== flooder) return await libp2pTransport.pushUpdate(host, to, header, bytes, timeoutMs)
      // each with a minute (not the try's limit): on a loaded machine a timed-out one would be retried as a whole
      for (let i = 0; i <= UPDATE_PUSH_TRIES; i++) {
        acks.push(await libp2pTransport.pushUpdate(host, to, header, bytes, Math.max(timeoutMs, 60_000)))
      }
      return acks[0]!
    }
  }
  const net = await startNet(3, job, jobId, { transport })
  try {
    await until(() => net.peers.every((p) => p.global.round === 1), 40_000, 'the round on every peer')
    assert.equal(acks.length, UPDATE_PUSH_TRIES + 1)
    // taken, then as many resends as an honest author retries, each with the same receipt; then refused
    const taken = acks.slice(0, UPDATE_PUSH_TRIES)
    assert.ok(taken.every((a) => a.accepted), taken.map((a) => a.reason).join(', '))
    assert.ok(taken.every((a) => Buffer.from(a.receipt!).equals(Buffer.from(taken[0]!.receipt!))), 'one receipt')
    assert.deepEqual([acks.at(-1)!.accepted, acks.at(-1)!.reason], [false, RejectReason.Duplicate])
    assert.equal(net.peers[0]!.rounds[0]!.included.filter((p) => p === flooder).length, 1, 'counted once')
  } finally {
    await net.close()
  }
})
