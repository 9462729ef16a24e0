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
import type { PrivateKey } from '@libp2p/interface'
import { randomFillSync } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createHost } from '../../node/host.ts'
import { fetchAdapter, serveAdapters } from '../../node/transfer.ts'
import { isRelayed, onTransferPath } from '../../node/transfer-path.ts'
import type { TransferPath } from '../../node/transfer-path.ts'
import { sha256Hex } from '../../node/adapter-codec.ts'
import { reachabilityOf } from '../../node/reachability.ts'
import { Reachability } from '../../protocol/election.ts'

const out = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n') }
const stopped = new Promise<void>((resolve) => { process.once('SIGTERM', () => resolve()) })

async function main (): Promise<void> {
  const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as NatNodeConfig
  const privateKey = await generateKeyPairFromSeed('Ed25519', keySeed(cfg.keySeed))
  if (cfg.role === 'bootstrap') {
    const relay = cfg.noRelay === true ? undefined : cfg.relay ?? DEFAULT_RELAY_LIMITS
    const host = await startBootstrap({ privateKey, listen: cfg.listen, announce: cfg.announce, relay })
    out({ ev: 'ready', id: host.peerId.toString() })
    await stopped
    await host.stop()
    return
  }
  if (cfg.role === 'serve' || cfg.role === 'fetch') { await transferNode(cfg, privateKey); return }
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
  peer.events.on('announce', (a) => {
    out({ ev: 'announce', round: a.round, attempt: a.attempt, aggregator: a.aggregator, selected: a.selected })
  })
  peer.events.on('rejected', (r) => { out({ ev: 'rejected', ...r }) })
  await peer.start()
  out({ ev: 'ready', id: peer.peerId })
  const done = new Promise<void>((resolve) => { peer.events.once('done', () => resolve()) })
  await Promise.race([done, stopped])
  out({
    ev: 'done',
    id: peer.peerId,
    reachability: peer.reachability,
    // the others' reachability as their last Hellos said it (what `fedit status` and the dashboard show)
    members: Object.fromEntries(peer.memberStatus().map((m) => [m.peer, m.reachability])),
    global: peer.global.hash,
    rounds: peer.rounds.map((r) => ({ round: r.round, aggregator: r.aggregator, included: r.included, bytes: r.bytes,
      seconds: r.seconds })),
    paths: peer.transferPaths
  })
  await stopped // keep serving the final adapter until the test is done
  await peer.stop()
}

const JOB_ID = '0'.repeat(64)

/** bench/transfer-nat: serve a random blob, or fetch it `runs` times and report MB/s and the path taken */
async function transferNode (cfg: NatNodeConfig, privateKey: PrivateKey): Promise<void> {
  const host = await createHost({ privateKey, listen: cfg.listen, announce: cfg.announce, bootstrap: cfg.bootstrap,
    nat: true,
    upnp: cfg.upnp, relay: cfg.relay })
  host.addEventListener('self:peer:update', () => { out({ ev: 'addrs', addrs: host.getMultiaddrs().map(String) }) })
  if (cfg.role === 'serve') {
    const blob = new Uint8Array(cfg.bytes!)
    for (let o = 0; o < blob.byteLength; o += 65536) randomFillSync(blob, o, Math.min(65536, blob.byteLength - o))
    const hash = sha256Hex(blob)
    await serveAdapters(host, { jobId: JOB_ID, lookup: (h) => h === hash ? blob : undefined, timeoutMs: 120_000 })
    out({ ev: 'ready', id: host.peerId.toString(), hash })
  } else {
    const target = multiaddr(cfg.from!)
    const peer = peerIdFromString(target.getComponents().filter((c) => c.name === 'p2p').pop()!.value!)
    const paths: TransferPath[] = []
    onTransferPath(host, (p) => paths.push(p))
    // DCUtR's dial-back needs an address of ours that others confirmed (AutoNAT): wait for it where asked
    const publicBy = Date.now() + (cfg.awaitDirectMs ?? 0)
    while (Date.now() < publicBy && reachabilityOf(host.getMultiaddrs()) !== Reachability.Public) await pause(100)
    await host.dial(target, { signal: AbortSignal.timeout(30_000) })
    // a relayed connection turns direct when DCUtR succeeds; wait a little for it where asked
    const until = Date.now() + (cfg.awaitDirectMs ?? 0)
    while (Date.now() < until && host.getConnections(peer).every(isRelayed)) await pause(100)
    const mbps: number[] = []
    for (let i = 0; i < (cfg.runs ?? 3); i++) {
      const t0 = performance.now()
      await fetchAdapter(host, peer, cfg.hash!, { jobId: JOB_ID, maxBytes: cfg.bytes!, timeoutMs: 120_000 })
      mbps.push(cfg.bytes! / 1e6 / ((performance.now() - t0) / 1000))
    }
    const remote = host.getConnections(peer).map((c) => c.remoteAddr.toString())
    out({ ev: 'done', reachability: reachabilityOf(host.getMultiaddrs()), mbps,
      paths: paths.map((p) => `${p.kind} (${p.why})`), remote })
  }
  await stopped
  await host.stop()
}

const pause = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

main().then(() => process.exit(0), (err: Error) => {
  out({ ev: 'error', message: err.stack ?? err.message })
  process.exit(1)
})
