// A push whose ack comes back too late (a busy loop: 100 peers in one process) is retried; the aggregator took the
// first try, so the retry is the same update sent again. It must get the same receipt, not a `duplicate` refusal:
// without a receipt the author cannot prove a drop (protocol/complaint.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { UpdateAck } from '../../protocol/messages.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
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
