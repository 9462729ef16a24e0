// A member drawn for a role in the next round fetches a result's global adapter while the witnesses judge it, and
// adopts it only on their quorum (node/early-fetch.ts, node/member-role.ts onTaken). The pure parts first: what is
// kept, and which fetch's bytes adoption takes (an aggregator that stalls the early fetch must delay no one). Then
// 8 real peers on 127.0.0.1, 3 rounds: the next round's aggregator and trainer fetched each global early.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EarlyFetch, firstFetched } from '../../node/early-fetch.ts'
import type { RoundResult } from '../../protocol/messages.ts'
import { addLoggedPeers, FAST, testJob, startNet, until } from './net-fixture.ts'

const resultOf = (round: number, hashByte: number): RoundResult =>
  ({ round, newHash: new Uint8Array(32).fill(hashByte) }) as unknown as RoundResult

/** a promise and its resolver, to settle fetches when the test says */
function deferred<T> (): { readonly promise: Promise<T>, readonly resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => { resolve = r })
  return { promise, resolve }
}

test('early fetches: one per hash, two at most, handed over once, forgotten once their round is adopted', async () => {
  const asked: string[] = []
  const early = new EarlyFetch<string>(async (hash, from) => { asked.push(`${hash.slice(0, 2)}@${from}`); return hash })
  assert.equal(early.start(resultOf(3, 1), 'agg'), true)
  assert.equal(early.start(resultOf(3, 1), 'agg'), false, 'the same result twice: one fetch')
  assert.equal(early.start(resultOf(3, 2), 'agg2'), true)
  assert.equal(early.start(resultOf(3, 3), 'agg3'), false, 'a third result (an aggregator gone bad): not early')
  assert.deepEqual(asked, ['01@agg', '02@agg2'])
  assert.equal(await early.take('01'.repeat(32)), '01'.repeat(32))
  assert.equal(early.take('01'.repeat(32)), undefined, 'handed over once')
  assert.equal(early.start(resultOf(4, 4), 'agg'), true, 'room again once one is taken')
  early.forget(3)
  assert.equal(early.size, 1, 'round 3 adopted: its early fetches are dropped, round 4\'s kept')
  assert.equal(early.take('02'.repeat(32)), undefined)
  // a fetch that throws is a fetch that found nothing
  const failing = new EarlyFetch<string>(async () => { throw new Error('stream reset') })
  failing.start(resultOf(1, 9), 'x')
  assert.equal(await failing.take('09'.repeat(32)), undefined)
})

test('adoption takes an early fetch\'s bytes when it has them, and never waits on one that stalls', async () => {
  let fetches = 0
  const fetch = async (): Promise<string> => { fetches++; return 'late' }
  // none started: the usual fetch
  assert.deepEqual(await firstFetched(undefined, fetch), { got: 'late', early: false })
  // done and found: no second fetch
  assert.deepEqual(await firstFetched(Promise.resolve('early'), fetch), { got: 'early', early: true })
  assert.equal(fetches, 1)
  // done and found nothing (the aggregator did not serve it): the usual fetch, told so (every source, the early
  // one's last)
  assert.deepEqual(await firstFetched(Promise.resolve(undefined), async (early) => {
    assert.equal(early, 'failed')
    return await fetch()
  }), { got: 'late', early: false })
  assert.deepEqual(await firstFetched(undefined, async (early) => { assert.equal(early, 'none'); return 'late' }),
    { got: 'late', early: false })
  assert.equal(fetches, 2)
  // still under way and stalled: the usual fetch starts at once, told so (to ask others than the early one's
  // source), and its bytes are taken
  const stalled = deferred<string | undefined>()
  const told: string[] = []
  assert.deepEqual(await firstFetched(stalled.promise, async (early) => { told.push(early); return 'late' }),
    { got: 'late', early: false })
  assert.deepEqual(told, ['under way'])
  stalled.resolve('early, too late')
  // still under way and first: the usual fetch ran too, the early bytes win
  const slow = deferred<string | undefined>()
  const race = firstFetched(slow.promise, async () => await new Promise<string>((resolve) => {
    setTimeout(() => { resolve('late') }, 200)
  }))
  slow.resolve('early')
  assert.deepEqual(await race, { got: 'early', early: true })
  // under way and it finds nothing, nor does the usual fetch: nothing, and no hang
  const empty = deferred<string | undefined>()
  const none = firstFetched(empty.promise, async () => undefined)
  empty.resolve(undefined)
  assert.deepEqual(await none, { got: undefined, early: false })
})

const PEERS = 8
const TIMING = { ...FAST, largeJobMembers: 4, idleHellosPerHeartbeat: PEERS }

test('the next round\'s aggregator and trainer fetch a global while its witnesses judge it', { timeout: 120_000 },
  async () => {
    const { job, jobId } = testJob({ rounds: 3, peersPerRound: 1, minPeers: PEERS, roundDeadlineSeconds: 6,
      witnesses: { count: 2, quorum: 2 } })
    /** `peer index/round` of each early fetch started, and of each adoption that fetched its global */
    const started = new Set<string>()
    const fetched = new Map<string, string>()
    const net = await startNet(0, job, jobId, { timing: TIMING }, 110)
    try {
      await addLoggedPeers(net, PEERS, (i, line) => {
        const s = /^round (\d+): a role in round \d+; fetching the global \w+ from \w+ while its witnesses judge/.exec(line)
        if (s !== null) started.add(`${i}/${s[1]}`)
        const f = /^round (\d+): global \w+ fetched in \d+ ms/.exec(line)
        if (f !== null) fetched.set(`${i}/${f[1]}`, line)
      })
      await until(() => net.peers.every((p) => p.global.round === job.rounds), 90_000, 'the job to finish everywhere')
      assert.equal(new Set(net.peers.map((p) => p.global.hash)).size, 1, 'one global adapter')
      const ids = net.peers.map((p) => p.peerId)
      const ref = net.peers[0]!.rounds
      let checked = 0
      for (let r = 1; r < job.rounds; r++) {
        const next = ref.find((i) => i.round === r + 1)!
        if (next.attempt !== 0) continue // a failover's roles are not the ones drawn for attempt 0
        // its aggregator and trainer, where they fetched round r's global (not its aggregator, nor a witness of it)
        for (const m of new Set([next.aggregator, ...next.selected])) {
          const i = ids.indexOf(m)
          if (!fetched.has(`${i}/${r}`)) continue
          checked++
          assert.ok(started.has(`${i}/${r}`), `round ${r}: ${m.slice(-6)} has a role in round ${r + 1} but fetched ` +
            `late: ${fetched.get(`${i}/${r}`)}`)
        }
      }
      // a role is what starts an early fetch: the others fetched after the quorum
      assert.ok(started.size < PEERS * (job.rounds - 1), 'every member fetched early')
      assert.ok(checked > 0, 'no role holder of a round fetched the global before it (all were witnesses or ' +
        'aggregators): the test checked nothing')
      // each adoption that took early bytes says so; every adoption still waited for its quorum (one global above)
      const early = [...fetched.values()].filter((l) => l.endsWith('fetched before its witnesses confirmed it'))
      assert.ok(early.every((l) => [...started].some((k) => fetched.get(k) === l)),
        'an adoption took early bytes it never fetched early')
    } finally {
      await net.close()
    }
  })
