// Shared set-up of the network tests: a job, a bootstrap and N peers on 127.0.0.1 with the test doubles.
import '../../node/polyfill.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { validateJobSpec, jobIdOf } from '../../protocol/job-spec.ts'
import type { JobSpec } from '../../protocol/job-spec.ts'
import { startBootstrap, dialableAddrs } from '../../bootstrap/bootstrap-node.ts'
import type { FeditHost } from '../../node/host.ts'
import { createPeer } from '../../node/peer.ts'
import type { Peer, PeerOptions, PeerTiming } from '../../node/peer.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'

export function testJob (over: Record<string, unknown> = {}): { job: JobSpec, jobId: string } {
  const job = validateJobSpec({
    name: 'net-test',
    baseModel: { id: 'stories260K', sha256: '0'.repeat(64) },
    lora: { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] },
    recipe: { learningRate: 1e-3, batchSize: 2, localSteps: 1, maxLength: 32, seed: 7 },
    rounds: 3,
    peersPerRound: 3,
    minPeers: 6,
    roundDeadlineSeconds: 2,
    ...over
  })
  return { job, jobId: jobIdOf(job) }
}

export const FAST: Partial<PeerTiming> = { heartbeatMs: 300, memberTtlMs: 1500, tickMs: 100, settleMs: 600,
  graceMs: 800, discoveryIntervalMs: 1000, transferTimeoutMs: 5000 }

/** FEDIT_NET_LOG=1 prints every test peer's log lines (to see a failed network test's story) */
export function netLogger (name: string): ((line: string) => void) | undefined {
  if (process.env.FEDIT_NET_LOG !== '1') return undefined
  const t0 = Date.now()
  return (line) => { process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(2)} ${name}] ${line}\n`) }
}

/** Adds `n` peers whose log lines go to `onLine`, with the peer's index (and with FEDIT_NET_LOG=1 to stderr). */
export async function addLoggedPeers (net: Net, n: number, onLine: (i: number, line: string) => void): Promise<void> {
  for (let i = 0; i < n; i++) {
    const log = netLogger(`p${i}`)
    await net.addPeer({ logger: (line) => { log?.(line); onLine(i, line) } })
  }
}

export interface Net {
  readonly boot: FeditHost
  readonly bootAddrs: string[]
  readonly peers: Peer[]
  readonly dir: string
  addPeer (over?: Partial<PeerOptions>): Promise<Peer>
  close (): Promise<void>
}

export async function startNet (n: number, job: JobSpec, jobId: string, over: Partial<PeerOptions> = {},
  seedBase = 0): Promise<Net> {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-net-'))
  const boot = await startBootstrap({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  const bootAddrs = dialableAddrs(boot)
  const peers: Peer[] = []
  let i = 0
  const addPeer = async (o: Partial<PeerOptions> = {}): Promise<Peer> => {
    // fixed identities: elections (and so the test's path) are the same every run
    const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seedBase + i + 1))
    const p = createPeer({
      job, jobId, privateKey,
      trainer: createFakeTrainer({ lora: { ...job.lora }, samples: 5 + (i % 4), tokensPerSecond: 1000 * (i + 1) }),
      aggregate: buildAggregator(FEDAVG),
      stateDir: join(dir, `p${i++}`),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: bootAddrs,
      local: true,
      timing: FAST,
      logger: netLogger(`p${i - 1}`), // i was counted up by stateDir above
      ...over,
      ...o
    })
    const log = netLogger(`p${i - 1}`)
    if (log !== undefined) p.events.on('rejected', (r) => {
      if (r.where !== 'gossip') {
        log(`rejected ${r.reason} from ${r.from.slice(-6)} round ${r.round ?? '-'} (${r.where})`)
      }
    })
    await p.start()
    peers.push(p)
    return p
  }
  for (let k = 0; k < n; k++) await addPeer()
  return {
    boot, bootAddrs, peers, dir, addPeer,
    async close () {
      await Promise.all(peers.map(async (p) => await p.stop()))
      await boot.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * `p`, or a rejection naming `what` after `timeoutMs`: a test waiting on an event that never comes must fail with
 * its story and close its network, not hang (the file then ran until the runner killed it at 20 min).
 */
export async function within<T> (p: Promise<T>, timeoutMs: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`))
    }, timeoutMs)
  })
  try { return await Promise.race([p, late]) } finally { clearTimeout(timer) }
}

/** Resolves when `cond` holds, polling each `stepMs`; rejects after `timeoutMs` with `what`. */
/** `what` may be a function: said as things stand when the wait runs out, not as they stood before it began */
export async function until (cond: () => boolean, timeoutMs: number, what: string | (() => string),
  stepMs = 50): Promise<void> {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}
