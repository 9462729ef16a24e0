// The job's history checked by a witness: the result must start from the previous result's history (or a reset
// no witness can contest) and end on the history the witness recomputes, bit for bit. Two rounds of the default
// rule over fake-trainer updates, signed like real ones.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { RoundResult } from '../../protocol/messages.ts'
import { updateStatement } from '../../protocol/signed-update.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { ROBUST_DEFAULT } from '../../protocol/aggregation-spec.ts'
import { sign } from '../../node/signatures.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { encodeAdapter, layoutOf, sha256Hex } from '../../node/adapter-codec.ts'
import { aggregateRound } from '../../node/round-aggregate.ts'
import { judgeResult } from '../../node/witness-role.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import type { JobHistory } from '../../trainer/aggregate/history.ts'
import { decodeHistory, encodeHistory } from '../../trainer/aggregate/history-codec.ts'
import type { Adapter } from '../../trainer/lora/adapter.ts'
import { unhex } from '../../node/hex.ts'

const jobId = 'e'.repeat(64)
const aggregate = buildAggregator(ROBUST_DEFAULT)
const trainer = createFakeTrainer({ lora: { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] } })

interface Made { r: RoundResult, adapter: Adapter, history: JobHistory, historyHash: string }

/** one signed round of 4 authors on `base` starting from history `prior` (hash `priorHash`, '' : empty) */
async function round (n: number, base: Adapter, prior: JobHistory | undefined, priorHash: string,
  served: Map<string, Uint8Array>): Promise<Made> {
  const baseHash = sha256Hex(encodeAdapter(base))
  const keys = await Promise.all([1, 2, 3, 4].map(async (i) => await generateKeyPairFromSeed('Ed25519',
    new Uint8Array(32).fill(i))))
  const updates = []
  const commits = []
  for (let i = 0; i < 4; i++) {
    const peer = peerIdFromPrivateKey(keys[i]!).toString()
    const a = (await trainer.train({ round: n, base, seed: 100 * n + i, signal: new AbortController().signal })).adapter
    const bytes = encodeAdapter(a)
    const h = sha256Hex(bytes)
    served.set(h, bytes)
    updates.push({ peer, samples: 5, round: n, baseHash, adapter: a })
    commits.push({ author: peer, hash: unhex(h), samples: 5,
      signature: await sign(keys[i]!, updateStatement(jobId, n, 0, baseHash, h, 5)) })
  }
  const out = aggregateRound(aggregate, updates, { round: n, baseHash, global: base,
    ...(prior !== undefined ? { history: prior } : {}) })
  assert.ok(out.history !== undefined, 'the default rule keeps a history')
  served.set(out.history.hash, out.history.bytes)
  const included = out.decisions.filter((d) => d.included).map((d) => d.peer).sort()
  const byAuthor = new Map(commits.map((c) => [c.author, c]))
  const r: RoundResult = { jobId, round: n, attempt: 0, baseHash: unhex(baseHash), newHash: unhex(out.hash),
    selected: [...byAuthor.keys()].sort(), included, trainLoss: 1, bytes: 0n, seconds: 1, adapterBytes: 0n,
    excluded: out.decisions.filter((d) => !d.included).map((d) => ({ peer: d.peer, reason: d.reason ?? '',
      update: byAuthor.get(d.peer)! })),
    updates: included.map((p) => byAuthor.get(p)!),
    ...(priorHash !== '' ? { historyBase: unhex(priorHash) } : {}), historyHash: unhex(out.history.hash) }
  return { r, adapter: out.adapter, history: out.history.value, historyHash: out.history.hash }
}

test('a witness recomputes the job history: it refuses a forged start, a wiped end and a contestable reset',
  async () => {
  const served = new Map<string, Uint8Array>()
  const base = trainer.initialAdapter(1)
  const r1 = await round(1, base, undefined, '', served)
  const r2 = await round(2, r1.adapter, r1.history, r1.historyHash, served)
  const me = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(9))
  // the witness holds every history it was ever served (as members keep the one their global came with)
  let holds = true
  const deps = { jobId, peerId: peerIdFromPrivateKey(me).toString(), key: me, layout: layoutOf(base),
    maxAdapterBytes: 1 << 20, aggregate,
    fetch: async (_from: string, h: string) => { const b = served.get(h); if (b === undefined) throw new Error('nf')
      return b },
    history: async (h: string) => {
      const b = holds ? served.get(h) : undefined
      const d = b === undefined ? undefined : decodeHistory(b)
      return d?.ok === true ? d.history : undefined
    } }
  const agg = r2.r.included[0]!
  const judge = async (r: RoundResult, prior: string | undefined): Promise<string> => {
    const v = await judgeResult(deps, r, agg, r1.adapter, prior)
    return v.abstain === true ? 'abstain' : v.agree ? 'agree' : v.reason.split(':')[0]!
  }
  assert.equal(await judge(r2.r, r1.historyHash), 'agree')
  // the previous history, not another (here: a forged hash)
  assert.equal(await judge({ ...r2.r, historyBase: new Uint8Array(32).fill(7) }, r1.historyHash),
    RejectReason.HistoryForged)
  // the history after the round with one peer's record wiped (a colluder's, say)
  const wiped = new Map(r2.history)
  wiped.delete([...wiped.keys()][0]!)
  const wipedBytes = encodeHistory(wiped)
  served.set(sha256Hex(wipedBytes), wipedBytes)
  assert.equal(await judge({ ...r2.r, historyHash: unhex(sha256Hex(wipedBytes)) }, r1.historyHash),
    RejectReason.HistoryMismatch)
  // a reset recomputed honestly from the empty history: refused while the named history can be had
  const reset = await round(2, r1.adapter, undefined, '', served)
  assert.equal(await judge(reset.r, r1.historyHash), RejectReason.HistoryReset)
  // ...and taken when nobody can serve it: the round is not held hostage by a lost history
  holds = false
  assert.equal(await judge(reset.r, r1.historyHash), 'agree')
  // the named history cannot be had from its aggregator either: no agreement
  assert.equal(await judge(r2.r, r1.historyHash), RejectReason.HistoryUnavailable)
  // we do not know which history our global came with (restored, caught up): we cannot judge a named one, and
  // cannot contest a reset
  assert.equal(await judge(r2.r, undefined), 'abstain')
  holds = true
  assert.equal(await judge(reset.r, undefined), 'agree')
})

test('a history blob decodes to what was encoded and refuses bad bytes', () => {
  const sk = Float64Array.from({ length: 1024 }, (_, k) => Math.sin(k))
  const h: JobHistory = new Map([['b', { rounds: 2, last: 3, sketch: sk }], ['a', { rounds: 1, last: 1, sketch: sk }]])
  const bytes = encodeHistory(h)
  const d = decodeHistory(bytes)
  assert.ok(d.ok)
  assert.deepEqual([...d.history.keys()], ['a', 'b'])
  assert.deepEqual(encodeHistory(d.history), bytes)
  const nan = bytes.slice()
  new DataView(nan.buffer).setFloat64(4 + 2 + 1 + 8, Number.NaN, true)
  assert.match((decodeHistory(nan) as { reason: string }).reason, /non-finite/)
  assert.match((decodeHistory(bytes.subarray(0, bytes.byteLength - 1)) as { reason: string }).reason, /size|trunc/)
  const extra = new Uint8Array(bytes.byteLength + 1)
  extra.set(bytes)
  assert.match((decodeHistory(extra) as { reason: string }).reason, /after the last/)
})
