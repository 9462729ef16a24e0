// What a waiting peer says (PeerNotes) and the bootstrap's connection log (ConnectionLog): pure, on a clock
// the test drives.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PeerNotes } from '../../node/peer-notes.ts'
import { RoundStage } from '../../node/round-stage.ts'
import { ConnectionLog } from '../../bootstrap/connection-log.ts'

const at = (now: number, live: number, stage = RoundStage.Gathering, bootstrapConnected = true) => ({ now, live, stage,
  bootstrapConnected })

test('a gathering peer says how many members are live, once per change, and when rounds can start', () => {
  const n = new PeerNotes({ minPeers: 4, startedAt: 0, local: true, bootstrapLooksLocal: true })
  assert.deepEqual(n.observe(at(1000, 1)), ['waiting for members: 1/4 live'])
  assert.deepEqual(n.observe(at(2000, 1)), [])
  assert.deepEqual(n.observe(at(3000, 2)), ['waiting for members: 2/4 live'])
  assert.deepEqual(n.observe(at(4000, 4, RoundStage.AwaitAnnounce)), ['4/4 members live: rounds can start'])
  assert.deepEqual(n.observe(at(5000, 4, RoundStage.Training)), [])
})

test('no peers after 30 s names the likely cause: --local, the bootstrap, or another job', () => {
  const cases = [
    [{ local: false, bootstrapLooksLocal: true }, true, /: on one machine you need --local/],
    [{ local: false, bootstrapLooksLocal: true }, false,
      /: the bootstrap does not answer .*; on one machine you also need --local$/],
    [{ local: true, bootstrapLooksLocal: true }, false,
      /: the bootstrap does not answer \(see "bootstrap unreachable" above\)$/],
    [{ local: false, bootstrapLooksLocal: false }, true,
      /: nobody else is in this job yet \(every member must run the same job.json/]
  ] as const
  for (const [o, connected, re] of cases) {
    const n = new PeerNotes({ minPeers: 2, startedAt: 0, ...o })
    assert.deepEqual(n.observe(at(29_000, 1, RoundStage.Gathering, connected)), ['waiting for members: 1/2 live'])
    const lines = n.observe(at(30_000, 1, RoundStage.Gathering, connected))
    assert.equal(lines.length, 1)
    assert.match(lines[0]!, /^no peers found after 30 s: /)
    assert.match(lines[0]!, re)
    assert.deepEqual(n.observe(at(40_000, 1, RoundStage.Gathering, connected)), [], 'said once')
  }
})

test('the bootstrap logs connects and leaves one line each, at most 5 per window, then a count', () => {
  const log = new ConnectionLog(5, 10_000)
  const lines: string[] = []
  for (let i = 0; i < 8; i++) lines.push(...log.event(10_000 + i, 'connected', `p${i}`, i + 1))
  lines.push(...log.event(10_100, 'left', 'p0', 7))
  assert.deepEqual(lines, ['peer p0 connected (1 connected)', 'peer p1 connected (2 connected)',
    'peer p2 connected (3 connected)',
    'peer p3 connected (4 connected)', 'peer p4 connected (5 connected)'])
  assert.deepEqual(log.flush(15_000, 7), [], 'the window is not over')
  assert.deepEqual(log.flush(20_000, 7), ['3 more connected, 1 more left in the last 10 s (7 connected)'])
  assert.deepEqual(log.event(20_001, 'left', 'p1', 6), ['peer p1 left (6 connected)'])
})
