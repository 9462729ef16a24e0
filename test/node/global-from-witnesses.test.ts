// The witnesses that agreed with a result computed its adapter bit for bit: they adopt it without fetching it and
// serve it beside the aggregator, so the job's members spread their fetches over them (with ~100 members in one
// process, all fetching from the aggregator at once timed out). Here every aggregator withholds its result's
// adapter: the members still adopt every round, from the witnesses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { TransferError } from '../../node/errors.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import type { Transport } from '../../node/types.ts'
import type { Peer } from '../../node/peer.ts'
import { testJob, startNet, until } from './net-fixture.ts'

test('members adopt a result from its witnesses when the aggregator withholds the adapter', { timeout: 90_000 },
  async () => {
  const { job, jobId } = testJob({ rounds: 3, witnesses: { count: 2, quorum: 2 } })
  const aggregatorOf = new Map<number, string>()
  let peers: Peer[] = []
  const fetches: Array<{ by: string, from: string, hash: string }> = []
  const transport: Transport = {
    ...libp2pTransport,
    fetchAdapter: async (host, from, hash, opts) => {
      if (opts.what === undefined || opts.what === 'adapter') {
        fetches.push({ by: host.peerId.toString(), from: from.toString(), hash })
        // the aggregator of the round the fetcher stands before "has lost" its result's adapter
        const next = (peers.find((p) => p.peerId === host.peerId.toString())?.global.round ?? 0) + 1
        if (aggregatorOf.get(next) === from.toString()) {
          throw new TransferError(RejectReason.NotFound, 'withheld by the test')
        }
      }
      return await libp2pTransport.fetchAdapter(host, from, hash, opts)
    }
  }
  const net = await startNet(6, job, jobId, { transport })
  peers = net.peers
  const witnessed: Array<{ by: string, round: number, hash: string, agree: boolean }> = []
  const unavailable: Array<number | undefined> = []
  for (const p of peers) {
    p.events.on('announce', (a) => { if (a.mine) aggregatorOf.set(a.round, a.aggregator) })
    p.events.on('witnessed', (w) => { witnessed.push({ by: p.peerId, round: w.round, hash: w.hash, agree: w.agree }) })
    p.events.on('rejected', (r) => { if (r.reason === RejectReason.AdapterUnavailable) unavailable.push(r.round) })
  }
  try {
    await until(() => peers.every((p) => p.global.round === 3), 60_000, '3 rounds on every peer')
    assert.equal(new Set(peers.map((p) => p.global.hash)).size, 1, 'one global adapter')
    // adopted as each result came, not by catching up after the aggregator failed them
    assert.deepEqual(unavailable, [], 'no result was left for want of its adapter')
    for (const p of peers) assert.ok(p.rounds.every((r) => r.missed !== true), 'no round caught up past')
    const log = peers[0]!.rounds
    for (const r of log) {
      const got = fetches.filter((f) => f.hash === r.hash)
      // every fetch that succeeded came from a witness (the aggregators refuse theirs)
      assert.ok(got.length > 0, `round ${r.round}: the members fetched its adapter`)
      assert.ok(got.every((f) => f.by !== r.aggregator), 'the aggregator holds its own result')
    }
    // a witness that agreed never fetched the result it judged: it holds the bytes it computed (one that judged
    // another attempt of the round, or disagreed, fetches the adopted one like any member: under load a round
    // failed over and the check by round alone failed)
    const agreed = witnessed.filter((w) => w.agree && log.some((r) => r.round === w.round && r.hash === w.hash))
    assert.ok(agreed.length > 0, 'adopted results were witnessed')
    for (const w of agreed) {
      assert.ok(!fetches.some((f) => f.by === w.by && f.hash === w.hash), `round ${w.round}: a witness fetched it`)
    }
  } finally {
    await net.close()
  }
})
