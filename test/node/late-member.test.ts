// A member that falls two results behind (its fetches of the round 1 and 2 adapters are held back) while
// the others go on and select it for round 3: the round-3 announce arrives out of its window and is kept. A
// member never follows an announce's base (it catches up to what a quorum of counted members hold, through
// their Hellos, once its fetch is let go), then replays the kept announce and still trains in round 3 (the
// aggregator does not wait out its deadline); and a base it fetched never steps its global adapter back.
// With these identities the late member is first in line for round 3: the others wait one silence for its
// announce and fail over to attempt 1. Its attempt clock starts when most of the others adopted round 2
// (their Hellos, ctx.sharedSince), not when it caught up, so it takes that failover as due and trains in it
// instead of announcing attempt 0 itself. The round deadline is the job's usual 4 s.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { SelectFn } from '../../protocol/election.ts'
import type { Peer } from '../../node/peer.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import type { Transport } from '../../node/types.ts'
import { testJob, startNet, until } from './net-fixture.ts'

const SEED_BASE = 40
const LATE = 3 // index of the member held behind; with these identities it aggregates none of rounds 1..3

test('a member two results behind still trains in the round it was selected for, and never steps its global back',
  { timeout: 90_000 }, async () => {
  const deadlineSeconds = 4
  const { job, jobId } = testJob({ rounds: 3, minPeers: 4, peersPerRound: 2, roundDeadlineSeconds: deadlineSeconds })
  // the fixture's identities: peer i has the key seeded with SEED_BASE + i + 1
  const late = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32)
    .fill(SEED_BASE + LATE + 1))).toString()
  // rounds 1 and 2 go on without the late member; round 3 needs it
  const select: SelectFn = ({ members, k, round }) => {
    const others = members.filter((m) => m !== late).sort()
    return (round === 3 ? [late, ...others] : others).slice(0, k).sort()
  }

  // the late member's adapter fetches complete but are handed on only once the test releases their hash
  const released = new Set<string>()
  const gates = new Map<string, { readonly promise: Promise<void>, readonly resolve: () => void }>()
  const gate = (hash: string): { readonly promise: Promise<void>, readonly resolve: () => void } => {
    let g = gates.get(hash)
    if (g === undefined) {
      let resolve!: () => void
      const promise = new Promise<void>((res) => { resolve = res })
      g = { promise, resolve }
      gates.set(hash, g)
    }
    return g
  }
  let holding = true // once the test lets go, later fetches (round 3's result) pass at once
  // a transport whose adapter fetches complete, then wait for the gate of their hash
  const transport: Transport = {
    ...libp2pTransport,
    fetchAdapter: async (host, from, hash, opts) => {
      const bytes = await libp2pTransport.fetchAdapter(host, from, hash, opts)
      if (holding && !released.has(hash)) await gate(hash).promise
      return bytes
    }
  }
  const release = (hash: string): void => { released.add(hash); gate(hash).resolve() }

  const net = await startNet(0, job, jobId, { select }, SEED_BASE)
  try {
    for (let i = 0; i < 4; i++) await net.addPeer(i === LATE ? { transport } : {})
    const m = net.peers[LATE]!
    assert.equal(m.peerId, late)
    const others = net.peers.filter((p) => p !== m)

    // every global round the late member stands on, after each of its events
    const seen: Array<{ event: string, round: number }> = [{ event: 'start', round: m.global.round }]
    for (const e of ['stage', 'announce', 'trained', 'result', 'rejected'] as const) m.events.on(e, () => {
      seen.push({ event: e, round: m.global.round })
    })
    const hashes = new Map<number, string>() // round -> new global hash, as the others adopt it
    for (const p of others) p.events.on('result', (r) => { hashes.set(r.round, r.hash) })
    const trained: number[] = []
    m.events.on('trained', (t) => { trained.push(t.round) })
    let deferredFrom: string | undefined
    m.events.on('rejected', (r) => {
      if (r.where === 'announce' && r.reason === 'round_out_of_window' && r.round === 3) deferredFrom ??= r.from
    })

    // the round-3 announce reaches the late member while it still stands on round 0
    await until(() => deferredFrom !== undefined, 20_000,
      'the round-3 announce to reach the late member out of its window')
    assert.equal(m.global.round, 0, 'still held behind')
    const h1 = hashes.get(1)
    const h2 = hashes.get(2)
    assert.ok(h1 !== undefined && h2 !== undefined, 'the others completed rounds 1 and 2')

    // round 2's adapter arrives first: the member adopts it (and replays the kept announce) ...
    release(h2)
    // (a catch-up begun while the others stood one round ahead may be fetching round 1's first, and the next
    // waits for it: under load the round-1 result is overdue before round 2's comes; then both go, the order left
    // to the catch-up; the global still never steps back, checked below)
    await until(() => m.global.round >= 2 || gates.has(h1), 5_000,
      'the late member to adopt round 2, or to be fetching round 1 first')
    // ... then round 1's: too old to take now
    release(h1)
    holding = false
    for (const g of gates.keys()) release(g)
    await until(() => m.global.round >= 2, 5_000, 'the late member to adopt round 2')

    const agg = others.find((p) => p.peerId === deferredFrom)
    assert.ok(agg !== undefined, 'the round-3 announce came from one of the others')
    await until(() => agg.rounds.some((r) => r.round === 3), 20_000, 'round 3 at its aggregator')
    const log: Peer['rounds'] = agg.rounds
    assert.ok(log.every((r) => r.aggregator !== late),
      `precondition: the late member aggregates no round ` +
      `(aggregators ${log.map((r) => r.aggregator.slice(-6)).join(',')})`)
    const r3 = log.find((r) => r.round === 3)
    assert.ok(r3 !== undefined)
    assert.equal(r3.aggregator, deferredFrom)
    // (a) the kept announce was replayed: the late member trained in round 3, in time
    assert.deepEqual(trained, [3], 'the late member trained in round 3 (and only there)')
    assert.ok(r3.selected.includes(late))
    assert.ok(r3.included.includes(late), `late member included in round 3 (excluded: ${JSON.stringify(r3.excluded)})`)
    assert.ok(!r3.excluded.some((x) => x.peer === late))
    assert.equal(r3.attempt, 1, 'precondition: the late member was first in line, the others failed over')
    // every selected member answered: the aggregator closed its collection then, not at its deadline
    assert.deepEqual([...r3.included].sort(), [...r3.selected].sort(), 'every selected member was included')
    // (b) the late member's global round never went down
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i]!.round >= seen[i - 1]!.round,
        `global stepped back from round ${seen[i - 1]!.round} to ${seen[i]!.round} at '${seen[i]!.event}' ` +
        `(${JSON.stringify(seen)})`)
    }
    assert.ok(seen.some((s) => s.round === 2), 'it stood on round 2 before round 3')
    await until(() => net.peers.every((p) => p.global.round === 3), 10_000, 'round 3 on every peer')
    assert.equal(new Set(net.peers.map((p) => p.global.hash)).size, 1, 'one global adapter')
  } finally {
    await net.close()
  }
})
