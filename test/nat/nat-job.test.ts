// A 3-round job through real NATs (network namespaces, nftables masquerade; nat-lab.sh): a bootstrap + relay
// and one peer on the "internet", three peers behind home routers, the third router a symmetric NAT (random
// ports). Peer processes with the instant test-double trainer and 2 MiB adapters. It checks that every peer
// completes the job, that a home peer aggregated a round (everyone reached it through the relay or
// directly), that the symmetric-NAT peer's updates were included, and counts the transfers that went direct
// and relayed. Needs root, iproute2 and nftables (skips with the reason otherwise). FEDIT_NAT_LOG=FILE
// writes the job's log there.
import '../../node/polyfill.ts'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { keySeed, keepLabLog, NatLab, natLabMissing } from './nat-lab.ts'
import type { NatNodeConfig } from './nat-lab.ts'
import { validateJobSpec } from '../../protocol/job-spec.ts'
import { jobIdOf } from '../../protocol/job-spec.ts'
import { genesisBeacon } from '../../protocol/seeds.ts'
import { electionOrder } from '../../protocol/election.ts'
import type { PathCounts } from '../../node/reachability.ts'

const JOB = {
  name: 'nat-job',
  baseModel: { id: 'stories260K', sha256: '0'.repeat(64) },
  lora: { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'v_proj'] },
  recipe: { learningRate: 1e-3, batchSize: 2, localSteps: 1, maxLength: 32, seed: 7 },
  rounds: 3,
  peersPerRound: 4,
  minPeers: 4,
  roundDeadlineSeconds: 20
}
const DIM = 2048
const LAYERS = 8 // 8 layers x 2 modules x (8x2048 + 2048x8) floats = 2 MiB adapters
const TIMING = {
  heartbeatMs: 500, memberTtlMs: 4000, tickMs: 100, settleMs: 3000, graceMs: 3000, discoveryIntervalMs: 1000,
  transferTimeoutMs: 20_000
}
const PEERS = [
  { name: 'pub', ns: 'pub' },
  { name: 'home1', ns: 'h1' },
  { name: 'home2', ns: 'h2' },
  { name: 'home3-symmetric', ns: 'h3' }
]

/** Key seeds for the peers such that round 1 elects home1: a home peer aggregates whatever else happens. */
async function seedsElectingHome1 (): Promise<number[]> {
  // round 1 is elected by the job's genesis beacon (protocol/seeds.ts), the same on every peer
  const beacon = genesisBeacon(jobIdOf(validateJobSpec(JOB)))
  const idOf = async (s: number): Promise<string> =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', keySeed(s))).toString()
  const others = [await idOf(11), await idOf(13), await idOf(14)]
  for (let s = 20; s < 120; s++) {
    const home1 = await idOf(s)
    if (electionOrder([...others, home1], beacon, 1)[0] === home1) return [11, s, 13, 14]
  }
  throw new Error('no seed elects home1 in 100 tries')
}

const missing = natLabMissing()
const mib = (n: number): string => (n / 2 ** 20).toFixed(1)

const TITLE = 'a 3-round job through real NATs: relays, direct connections, a home aggregator, a symmetric NAT'

test(TITLE, { skip: missing, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-nat-'))
  const t0 = Date.now()
  const log: string[] = []
  const lab = new NatLab(dir, keepLabLog(log, 16))
  try {
    lab.up()
    const seeds = await seedsElectingHome1()
    const boot = lab.start('boot', {
      role: 'bootstrap', name: 'bootstrap', keySeed: 1, listen: ['/ip4/0.0.0.0/tcp/4001'],
      announce: ['/ip4/11.0.0.1/tcp/4001']
    })
    const bootId = String((await boot.next('ready', 90_000)).id)
    const bootstrap = [`/ip4/11.0.0.1/tcp/4001/p2p/${bootId}`]
    const ids = new Map<string, string>()
    const nodes = await Promise.all(PEERS.map(async (p, i) => {
      const cfg: NatNodeConfig = {
        role: 'peer', name: p.name, keySeed: seeds[i]!, listen: ['/ip4/0.0.0.0/tcp/4001'], bootstrap,
        job: JOB, dim: DIM, layers: LAYERS, stateDir: join(dir, p.name), timing: TIMING
      }
      const n = lab.start(p.ns, cfg)
      ids.set(String((await n.next('ready', 90_000)).id), p.name)
      return n
    }))
    const done = await Promise.all(nodes.map(async (n) => await n.next('done', 150_000)))
    const name = (id: unknown): string => ids.get(String(id)) ?? String(id)

    // every peer completed the 3 rounds on the same global adapter
    assert.equal(new Set(done.map((d) => d.global)).size, 1, 'one global adapter')
    type Round = { round: number, aggregator: string, included: string[], bytes: number, seconds: number }
    const rounds = done[0]!.rounds as Round[]
    assert.deepEqual(rounds.map((r) => r.round), [1, 2, 3])
    // round 1's elected aggregator is home1 (behind a NAT): the others pushed to it through the relay or directly
    assert.equal(name(rounds[0]!.aggregator), 'home1', `round 1 aggregated by ${name(rounds[0]!.aggregator)}`)
    assert.ok(rounds[0]!.included.length >= 3, `round 1 included ${rounds[0]!.included.map(name).join(',')}`)
    // the symmetric-NAT peer took part: its update made it into a round
    const sym = [...ids].find(([, n]) => n === 'home3-symmetric')![0]
    assert.ok(rounds.some((r) => r.included.includes(sym)), 'the symmetric-NAT peer was included')
    // reachability: the public peer is public (AutoNAT confirmed), the home peers reachable through the relay
    const reach = new Map(done.map((d) => [name(d.id), d.reachability]))
    assert.equal(reach.get('pub'), 1, 'pub is public')
    for (const h of ['home1', 'home2', 'home3-symmetric']) assert.equal(reach.get(h), 2, `${h} reachable via the relay`)
    // and each peer knows the others' from their Hellos (memberStatus: `fedit status`, the dashboard)
    for (const d of done) {
      const heard = Object.entries(d.members as Record<string, number>).map(([id, r]) => [name(id), r] as const)
      assert.deepEqual(heard.filter(([n]) => n !== 'bootstrap').sort(),
        [...reach].filter(([n]) => n !== name(d.id)).sort(), `what ${name(d.id)} heard of the others`)
    }
    const paths = new Map(done.map((d) => [name(d.id), d.paths as PathCounts]))
    const total = { direct: 0, relayed: 0, directBytes: 0, relayedBytes: 0 }
    for (const p of paths.values()) for (const k of Object.keys(total) as Array<keyof PathCounts>) total[k] += p[k]
    assert.ok(total.relayed > 0, 'some adapters went through the relay')
    assert.ok(total.direct > 0, 'some adapters went direct')

    const summary = [
      '--- NAT job summary',
      ...rounds.map((r) => `round ${r.round}: aggregator ${name(r.aggregator)}, ` +
        `included ${r.included.map(name).join(', ')}; ` +
        `${mib(r.bytes)} MiB of updates in ${r.seconds.toFixed(1)} s`),
      ...[...paths].map(([n, p]) => `${n.padEnd(16)} transfers it started: ` +
        `${p.direct} direct (${mib(p.directBytes)} MiB), ${p.relayed} relayed (${mib(p.relayedBytes)} MiB)`),
      `all peers: ${total.direct} direct, ${total.relayed} relayed; job ${((Date.now() - t0) / 1000).toFixed(1)} s wall`
    ]
    log.push(...summary)
    console.log(summary.join('\n'))
  } finally {
    await lab.close()
    if (process.env.FEDIT_NAT_LOG !== undefined) writeFileSync(process.env.FEDIT_NAT_LOG, log.join('\n') + '\n')
    rmSync(dir, { recursive: true, force: true })
  }
})

if (missing !== undefined) console.log(`# nat-job skipped: ${missing}`)
