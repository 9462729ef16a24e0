// RoundState on its own (no network): each transition moves the stage and emits its events in order, the
// global adapter never steps back, the collector is closed once, and what is adopted is what gets saved.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RoundState } from '../../node/round-state.ts'
import { RoundStage } from '../../node/round-stage.ts'
import { StateStore } from '../../node/state-store.ts'
import { encodeAdapter, sha256Hex } from '../../node/adapter-codec.ts'
import type { RoundInfo } from '../../node/round-info.ts'
import type { Adapter } from '../../trainer/lora/adapter.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'

const SELF = 'self-peer'

const trainer = createFakeTrainer({ lora: { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'] } })

function adapterOf (seed: number): { adapter: Adapter, bytes: Uint8Array, hash: string } {
  const adapter = trainer.initialAdapter(seed)
  const bytes = encodeAdapter(adapter)
  return { adapter, bytes, hash: sha256Hex(bytes) }
}

function info (round: number, attempt: number, hash: string): RoundInfo {
  const peers = [SELF]
  return {
    round, attempt, aggregator: SELF, selected: peers, included: peers, excluded: [], seconds: 1, bytes: 1,
    trainLoss: 1, hash
  }
}

test('RoundState: transitions move the stage and emit their events; the global never steps back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-round-state-'))
  try {
    const store = new StateStore(dir, 'job')
    const state = new RoundState({ store, rounds: 2, log: () => {}, self: () => SELF })
    const seen: string[] = []
    const names = [
      'announce', 'result', 'adopted', 'followed', 'global', 'collectorOpened', 'collectorClosed', 'done'
    ] as const
    for (const e of names) {
      state.events.on(e, () => { seen.push(e) })
    }
    state.events.on('stage', (s) => { seen.push(`stage:${s}`) })

    const g0 = adapterOf(1)
    state.begin({ round: 0, ...g0 }, '{}')
    assert.equal(state.completed, 0)
    assert.equal(state.globalHash, g0.hash)
    assert.equal(state.stage, RoundStage.Gathering)
    assert.deepEqual(state.adapterBytes(g0.hash), g0.bytes)

    state.enterRound(1)
    state.roundDue(Date.now())
    assert.equal(state.stage, RoundStage.AwaitAnnounce)

    // we aggregate attempt 0 of round 1
    const now = Date.now()
    const deadlineMs = now + 60_000
    const a = { round: 1, attempt: 0, members: [SELF], selected: [SELF], deadlineMs: BigInt(deadlineMs) }
    let fired = 0
    const c = state.openCollector({
      round: 1, attempt: 0, baseHash: g0.hash, selected: new Set([SELF]), received: new Map(), rejected: new Map(),
      members: [SELF], deadlineMs, startedAt: now
    }, a, now, () => { fired++ })
    assert.equal(state.stage, RoundStage.Collecting)
    assert.equal(state.current.accepted, 0)
    assert.ok(state.current.announcedByMe.has(0))
    assert.equal(state.closeCollector(c), true)
    assert.equal(state.closeCollector(c), false, 'closed once')
    state.aggregating()

    const g1 = adapterOf(2)
    state.adopt(1, g1.hash, g1.bytes, g1.adapter, info(1, 0, g1.hash))
    assert.equal(state.collector, undefined, 'adopting the round drops its collector')
    assert.equal(state.completed, 1)
    assert.equal(state.stage, RoundStage.AwaitAnnounce)
    assert.equal(state.current.round, 2)
    assert.deepEqual(seen, [
      'global', 'stage:await_announce',
      'announce', 'stage:collecting', 'collectorOpened', 'collectorClosed', 'stage:aggregating',
      'global', 'result', 'adopted', 'stage:await_announce'
    ])

    // an older round is never adopted again
    seen.length = 0
    state.adopt(1, g0.hash, g0.bytes, g0.adapter, undefined)
    state.catchUp(0, g0.hash, g0.bytes, g0.adapter)
    assert.equal(state.globalHash, g1.hash)
    assert.deepEqual(seen, [])

    // the last round: Done
    const g2 = adapterOf(3)
    state.adopt(2, g2.hash, g2.bytes, g2.adapter, info(2, 1, g2.hash))
    assert.equal(state.stage, RoundStage.Done)
    assert.deepEqual(seen, ['global', 'result', 'adopted', 'stage:done', 'done'])

    // what is adopted is what is saved
    await state.saved()
    const saved = store.load()
    assert.equal(saved?.round, 2)
    assert.equal(saved?.hash, g2.hash)
    assert.deepEqual(store.loadRounds().map((r) => r.hash), [g1.hash, g2.hash])
    assert.equal(fired, 0, 'a closed collector\'s deadline never fires')
    state.stop()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
