// kill -9 of real `fedit peer` processes (a bootstrap process and 4 peer processes on 127.0.0.1, real model,
// real training): a crash costs a few Hello intervals, not the round's deadline. The deadline is long (120 s)
// so that waiting it out cannot pass for closing on the lost Hellos: a killed trainer's round must complete
// in under a third of it, a killed aggregator's round (through a failover attempt) before the deadline itself
// (waiting for the dead aggregator would take deadline + grace).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadCheckpoint } from '../../trainer/checkpoint/load.ts'
import { modelHash } from '../../trainer/checkpoint/model-hash.ts'
import { readDolly } from '../../trainer/data/readers.ts'
import { splitHeldOut } from '../../trainer/data/split.ts'
import { initAdapter } from '../../trainer/lora/init.ts'
import { validateJobSpec } from '../../protocol/job-spec.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { layoutOf } from '../../node/adapter-codec.ts'
import type { RoundInfo } from '../../node/round-info.ts'
import { DEMO, jobJson, peerLabel } from '../../sim/sim-config.ts'
import type { SimConfig } from '../../sim/sim-config.ts'
import { shareTrainingPool } from '../../sim/peer-data.ts'
import { startProcessFleet } from '../../sim/fleet-processes.ts'
import type { Fleet, FleetAnnounce } from '../../sim/fleet.ts'

const DEADLINE_S = 120
/** `fedit peer`'s Hello interval at this size (node/peer.ts heartbeatMs; member-view.ts helloIntervalMs) */
const HELLO_S = 2
const PEERS = 4

// enough local steps that a selected trainer is still training (seconds) when it is killed right after the announce
const config: SimConfig = { ...DEMO, peers: PEERS, rounds: 1, perRound: 3, deadlineSeconds: DEADLINE_S,
  localSteps: 6, limitPerPeer: 40, batchSize: 4, microBatch: 4 }

interface Run {
  readonly fleet: Fleet
  readonly dir: string
  /** round 1's first announce */
  readonly announced: Promise<FleetAnnounce>
  /** resolves when round 1's result is in rounds.json of the peer that reported it first */
  readonly completed: Promise<RoundInfo>
}

async function startRun (): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-kill9-'))
  const { test: heldOut, train } = splitHeldOut(readDolly(config.dataPath).records)
  const shares = shareTrainingPool(train, { peers: PEERS, method: 'iid', seed: 7, alpha: config.alpha,
    limitPerPeer: config.limitPerPeer, label: (i) => peerLabel(i, PEERS) })
  // minPeers: all four, so round 1 is elected over one membership (with three, a peer that starts late makes a
  // second election over four, and the victim may be an aggregator no one follows)
  const job = validateJobSpec({ ...jobJson(config, 'stories260K', await modelHash(config.modelPath)),
    minPeers: PEERS }, 'kill -9 job')
  const layout = layoutOf(initAdapter(loadCheckpoint(config.modelPath).config, job.lora, job.recipe.seed))
  let fleet: Fleet
  try {
    fleet = await startProcessFleet({ job, shares, test: heldOut, dir, modelPath: config.modelPath, layout,
      log: () => {} })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const announced = new Promise<FleetAnnounce>((resolve) => {
    fleet.events.on('announce', (a) => { if (a.round === 1 && a.attempt === 0) resolve(a) })
  })
  const completed = new Promise<RoundInfo>((resolve) => {
    fleet.events.on('result', ({ info }) => { if (info.round === 1) resolve(info) })
  })
  return { fleet, dir, announced, completed }
}

function roundsOf (dir: string, peer: number): RoundInfo[] {
  return JSON.parse(readFileSync(join(dir, peerLabel(peer, PEERS), 'rounds.json'), 'utf8')) as RoundInfo[]
}

/** every survivor's round 1, once all of them wrote it (bounded) */
async function survivorsRound1 (run: Run, victim: string): Promise<RoundInfo[]> {
  const survivors = run.fleet.ids.map((id, i) => ({ id, i })).filter((p) => p.id !== victim)
  const t0 = Date.now()
  for (;;) {
    const got = survivors.map((p) => {
      try { return roundsOf(run.dir, p.i).find((r) => r.round === 1) } catch { return undefined } // not written yet
    })
    if (got.every((r) => r !== undefined)) return got as RoundInfo[]
    if (Date.now() - t0 > 30_000) assert.fail(`survivors' rounds.json: ${JSON.stringify(got)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** resolves once peer `id`'s log says it follows round 1's announce (it got it, and trains) */
async function following (run: Run, id: string): Promise<void> {
  const file = join(run.dir, 'logs', `${peerLabel(run.fleet.ids.indexOf(id), PEERS)}.log`)
  const t0 = Date.now()
  while (!/ round 1: selected by /.test(readFileSync(file, 'utf8'))) {
    if (Date.now() - t0 > 60_000) assert.fail(`${file} never followed round 1's announce`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function stopRun (run: Run): Promise<void> {
  try {
    await run.fleet.stop()
  } finally {
    // KEEP=1 keeps the peers' logs and state folders for a look after a failure
    if (process.env.KEEP === undefined) rmSync(run.dir, { recursive: true, force: true })
  }
}

test('kill -9 of a selected trainer: its round closes without it, long before the deadline',
  { timeout: 240_000 }, async () => {
    const run = await startRun()
    try {
      const a = await run.announced
      const victim = a.selected.find((s) => s !== a.aggregator)!
      await following(run, victim) // killed while it trains
      const killedAt = Date.now()
      await run.fleet.kill(victim)
      const first = await run.completed
      const closedAfterS = (Date.now() - killedAt) / 1000
      const rounds = await survivorsRound1(run, victim)
      console.log(`kill -9 trainer: round 1 completed ${closedAfterS.toFixed(1)} s after the kill ` +
        `(${(closedAfterS / HELLO_S).toFixed(1)} Hello intervals), recorded ${first.seconds.toFixed(1)} s; ` +
        `deadline ${DEADLINE_S} s`)
      assert.equal(new Set(rounds.map((r) => r.hash)).size, 1, 'one global adapter among the survivors')
      const r = rounds[0]!
      assert.equal(r.attempt, 0, 'the elected aggregator finished the round')
      assert.ok(!r.included.includes(victim), `the killed trainer is not included: ${JSON.stringify(r)}`)
      assert.equal(r.excluded.find((e) => e.peer === victim)?.reason, RejectReason.Gone, JSON.stringify(r))
      assert.ok(r.included.length >= 1)
      // correctness, not speed: closing on the lost Hellos, not on the deadline
      assert.ok(r.seconds < DEADLINE_S / 3, `round 1 took ${r.seconds} s: the deadline (${DEADLINE_S} s) was waited`)
      assert.ok(closedAfterS < DEADLINE_S / 3, `round 1 completed ${closedAfterS} s after the kill`)
    } finally {
      await stopRun(run)
    }
  })

test('kill -9 of the aggregator: a failover attempt completes the round before the deadline',
  { timeout: 240_000 }, async () => {
    const run = await startRun()
    try {
      const a = await run.announced
      // every selected member holds the announce (killed before it gossiped, the round would never start: the
      // job's minPeers are no longer live)
      for (const m of a.selected) if (m !== a.aggregator) await following(run, m)
      const killedAt = Date.now()
      await run.fleet.kill(a.aggregator)
      const first = await run.completed
      const closedAfterS = (Date.now() - killedAt) / 1000
      const rounds = await survivorsRound1(run, a.aggregator)
      console.log(`kill -9 aggregator: round 1 completed ${closedAfterS.toFixed(1)} s after the kill ` +
        `(${(closedAfterS / HELLO_S).toFixed(1)} Hello intervals) by attempt ${first.attempt}, recorded ` +
        `${first.seconds.toFixed(1)} s; deadline ${DEADLINE_S} s`)
      assert.equal(new Set(rounds.map((r) => r.hash)).size, 1, 'one global adapter among the survivors')
      const r = rounds[0]!
      assert.ok(r.attempt >= 1, `a failover attempt made round 1: ${JSON.stringify(r)}`)
      assert.notEqual(r.aggregator, a.aggregator)
      assert.ok(!r.included.includes(a.aggregator))
      // waiting for the dead aggregator would take deadline + grace; the failover must not
      assert.ok(r.seconds < DEADLINE_S, `round 1 took ${r.seconds} s`)
      assert.ok(closedAfterS < DEADLINE_S, `round 1 completed ${closedAfterS} s after the kill`)
    } finally {
      await stopRun(run)
    }
  })
