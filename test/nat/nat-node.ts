// One node of the NAT lab, run inside a network namespace by nat-job.test.ts and bench/transfer (not a test by
// itself). Usage: node --import tsx test/nat/nat-node.ts CONFIG.json. It prints one JSON object a line:
//   {"ev":"log","line":...}  the node's own log lines (reachability, transfer paths, rounds)
//   {"ev":"ready",...}       bootstrap: its peer id;  {"ev":"done",...} peer: the rounds it saw and its paths
// and stops on SIGTERM.
import '../../node/polyfill.ts'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { startBootstrap } from '../../bootstrap/bootstrap-node.ts'
import { createPeer } from '../../node/peer.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import { validateJobSpec, jobIdOf } from '../../protocol/job-spec.ts'
import { DEFAULT_RELAY_LIMITS } from '../../node/nat-traversal.ts'
import { keySeed } from './nat-lab.ts'
import type { NatNodeConfig } from './nat-lab.ts'
import { readFileSync } from 'node:fs'

const out = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n') }
const stopped = new Promise<void>((resolve) => { process.once('SIGTERM', () => resolve()) })

async function main (): Promise<void> {
  const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as NatNodeConfig
  const privateKey = await generateKeyPairFromSeed('Ed25519', keySeed(cfg.keySeed))
  if (cfg.role === 'bootstrap') {
    const host = await startBootstrap({ privateKey, listen: cfg.listen, announce: cfg.announce, relay: cfg.relay ?? DEFAULT_RELAY_LIMITS })
    out({ ev: 'ready', id: host.peerId.toString() })
    await stopped
    await host.stop()
    return
  }
  const job = validateJobSpec(cfg.job)
  const peer = createPeer({
    job,
    jobId: jobIdOf(job),
    privateKey,
    trainer: createFakeTrainer({ lora: { ...job.lora }, dim: cfg.dim, layers: cfg.layers, samples: 10 }),
    aggregate: buildAggregator(FEDAVG),
    stateDir: cfg.stateDir!,
    listen: cfg.listen,
    bootstrap: cfg.bootstrap,
    timing: cfg.timing,
    logger: (line) => { out({ ev: 'log', line }) }
  })
  peer.events.on('announce', (a) => { out({ ev: 'announce', round: a.round, attempt: a.attempt, aggregator: a.aggregator, selected: a.selected }) })
  peer.events.on('rejected', (r) => { out({ ev: 'rejected', ...r }) })
  await peer.start()
  out({ ev: 'ready', id: peer.peerId })
  const done = new Promise<void>((resolve) => { peer.events.once('done', () => resolve()) })
  await Promise.race([done, stopped])
  out({
    ev: 'done',
    id: peer.peerId,
    reachability: peer.reachability,
    global: peer.global.hash,
    rounds: peer.rounds.map((r) => ({ round: r.round, aggregator: r.aggregator, included: r.included, bytes: r.bytes, seconds: r.seconds })),
    paths: peer.transferPaths
  })
  await stopped // keep serving the final adapter until the test is done
  await peer.stop()
}

main().then(() => process.exit(0), (err: Error) => { out({ ev: 'error', message: err.stack ?? err.message }); process.exit(1) })
