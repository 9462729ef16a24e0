// A peer restarted with its --state takes back the job's history it held (state/history.bin), but only when the
// chain's link for its saved round names that very blob; a damaged or altered file is refused and the history
// stays unknown until the next result, as before.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPeer } from '../../node/peer.ts'
import type { Peer } from '../../node/peer.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { sha256Hex } from '../../node/adapter-codec.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { ROBUST_DEFAULT } from '../../protocol/aggregation-spec.ts'
import { testJob, startNet, until, FAST, netLogger } from './net-fixture.ts'

test('a restarted peer takes back its saved job history when the chain names it, and refuses an altered one',
  { timeout: 120_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 4, minPeers: 4, peersPerRound: 3 })
  const robust = buildAggregator(ROBUST_DEFAULT)
  const net = await startNet(4, job, jobId, { aggregate: robust }, 60)
  const stateDir = join(net.dir, 'restarting')
  const started: Peer[] = []
  const start = async (dir: string, lines: string[]): Promise<Peer> => {
    const log = netLogger(`r-${dir.split('/').pop()}`)
    const p = createPeer({
      job, jobId, stateDir: dir, trainer: createFakeTrainer({ lora: { ...job.lora }, samples: 7 }), aggregate: robust,
      listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: net.bootAddrs, local: true, timing: FAST,
      logger: (line) => { lines.push(line); log?.(line) }
    })
    started.push(p)
    await p.start()
    return p
  }
  try {
    const first = await start(stateDir, [])
    await until(() => first.global.round >= 2 && first.global.round < job.rounds &&
      (first.jobHistory.hash ?? '') !== '' && first.jobHistory.value !== undefined, 60_000,
    'the peer to hold a non-empty job history mid-job')
    await first.stop()
    const held = first.jobHistory
    const saved = readFileSync(join(stateDir, 'history.bin'))
    assert.ok(held.value !== undefined)
    assert.equal(sha256Hex(saved), held.hash, 'history.bin is the history that goes with the saved global')
    // an altered copy: one sketch value changed (the blob still decodes; its hash no longer matches)
    const altered = join(net.dir, 'altered')
    cpSync(stateDir, altered, { recursive: true })
    const bad = new Uint8Array(saved)
    bad[bad.length - 1] ^= 0x01
    writeFileSync(join(altered, 'history.bin'), bad)

    const lines: string[] = []
    const second = await start(stateDir, lines)
    assert.ok(lines.some((l) => l.includes(`resuming with the job's history ${held.hash!.slice(0, 12)}`)),
      lines.join('\n'))
    await until(() => [...net.peers, second].every((p) => p.global.round === job.rounds), 60_000,
      'every peer, the restarted one too, to finish the job')
    assert.equal(new Set([...net.peers, second].map((p) => p.jobHistory.hash)).size, 1, 'one history')
    await second.stop()

    const refused: string[] = []
    const third = await start(altered, refused)
    assert.ok(refused.some((l) => /the saved job history is not used \(the saved history \w+ is not/.test(l)),
      refused.join('\n'))
    assert.equal(third.jobHistory.hash === held.hash, false, 'the altered history is not taken')
  } finally {
    for (const p of started) await p.stop()
    await net.close()
  }
})
