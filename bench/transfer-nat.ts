// bench/transfer-nat: a 40 MB adapter through the NAT lab (test/nat/nat-lab.sh, network namespaces; root,
// iproute2, nftables), three ways, MB/s each (best of RUNS) and as a ratio to direct:
//   direct        a home peer fetches from a public peer: it dials it, no relay involved
//   relayed       a home peer fetches from another home peer: only the bootstrap's relay connects them
//                 (a TCP hole punch between two NATed js peers cannot succeed on Node 20, see DESIGN.md)
//   holePunched   a public peer reaches a home peer through the relay, and DCUtR upgrades that connection
//                 to a direct one (the home peer dials back); the fetch goes on the upgraded connection
//   upnpMapped    a home peer run with --upnp got a port mapping from its router (miniupnpd, where installed):
//                 a peer behind another NAT dials the router's public address and port, straight through
// Each variant reports the path its transfers took. Usage: npm run bench -- transfer-nat (as root).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { miniupnpdMissing, NatLab, natLabMissing } from '../test/nat/nat-lab.ts'
import type { LabNode } from '../test/nat/nat-lab.ts'

const BYTES = 40 * 1000 * 1000
const RUNS = Number(process.env.BENCH_RUNS ?? 3)

const missing = natLabMissing()
if (missing !== undefined) {
  console.error(`bench transfer-nat: ${missing}`)
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'fedit-bench-nat-'))
const lab = new NatLab(dir, (name, o) => { if (o.ev === 'error') console.error(`${name}: ${String(o.message)}`) })
try {
  lab.up()
  const boot = lab.start('boot', {
    role: 'bootstrap', name: 'bootstrap', keySeed: 1, listen: ['/ip4/0.0.0.0/tcp/4001'],
      announce: ['/ip4/11.0.0.1/tcp/4001']
  })
  const bootAddr = `/ip4/11.0.0.1/tcp/4001/p2p/${String((await boot.next('ready', 90_000)).id)}`
  const serve = async (ns: string, name: string, seed: number,
    port = 4101, upnp = false): Promise<{ id: string, hash: string, node: LabNode }> => {
    const listen = [`/ip4/0.0.0.0/tcp/${port}`]
    const node = lab.start(ns, { role: 'serve', name, keySeed: seed, listen, bootstrap: [bootAddr], bytes: BYTES,
      upnp })
    const r = await node.next('ready', 90_000)
    return { id: String(r.id), hash: String(r.hash), node }
  }
  const [pubServer, homeServer] = await Promise.all([serve('pub', 'serve-pub', 21), serve('h1', 'serve-home1', 22)])
  // the home server is reachable once its relay reservation is advertised
  const circuit = `${bootAddr}/p2p-circuit/p2p/${homeServer.id}`
  const start = Date.now()
  const reserved = (e: Record<string, unknown>): boolean => e.ev === 'addrs' && (e.addrs as string[])
    .some((a) => a.includes('/p2p-circuit'))
  while (!homeServer.node.events.some(reserved)) {
    if (Date.now() - start > 60_000) throw new Error('the home server got no relay reservation in 60 s')
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  type Fetched = { best: number, runs: number[], paths: string[] }
  const fetch = async (ns: string, name: string, seed: number, from: string, hash: string,
    awaitDirectMs: number): Promise<Fetched> => {
    const node = lab.start(ns, {
      role: 'fetch', name, keySeed: seed, listen: ['/ip4/0.0.0.0/tcp/0'], bootstrap: [bootAddr], bytes: BYTES, hash,
        from, runs: RUNS,
      awaitDirectMs
    })
    const r = await node.next('done', 300_000)
    node.child.kill('SIGTERM')
    const runs = (r.mbps as number[]).map((x) => +x.toFixed(1))
    return { best: Math.max(...runs), runs, paths: [...new Set(r.paths as string[])] }
  }
  // one at a time: they share the machine's cores
  const direct = await fetch('h2', 'fetch-direct', 31, `/ip4/11.0.0.4/tcp/4101/p2p/${pubServer.id}`, pubServer.hash, 0)
  const relayed = await fetch('h2', 'fetch-relayed', 32, circuit, homeServer.hash, 0)
  const punched = await fetch('pub', 'fetch-punched', 33, circuit, homeServer.hash, 30_000)
  const upnpSkipped = miniupnpdMissing()
  let mapped: Fetched | undefined
  if (upnpSkipped === undefined) {
    const router = lab.upnpRouter(1)
    const upnpServer = await serve('h1', 'serve-home1-upnp', 23, 4102, true)
    const until = Date.now() + 60_000
    while (!router.events.some((e) => String(e.line).includes('redirecting port 4102 to 10.1.0.2'))) {
      if (Date.now() > until) throw new Error('home1 got no UPnP port mapping in 60 s')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    mapped = await fetch('h2', 'fetch-upnp', 34, `/ip4/11.0.0.11/tcp/4102/p2p/${upnpServer.id}`, upnpServer.hash, 0)
  } else {
    console.error(`bench transfer-nat: no upnpMapped variant: ${upnpSkipped}`)
  }
  const variants = {
    direct, relayed, 'hole-punched': punched, ...(mapped !== undefined ? { 'upnp-mapped': mapped } : {})
  }
  console.error(`MB/s per run: ${Object.entries(variants).map(([k, v]) => `${k} ${v.runs.join(' ')}`).join('; ')}`)
  console.error(`paths: ${Object.entries(variants).map(([k, v]) => `${k} ${v.paths.join('; ')}`).join(' | ')}`)
  console.log(JSON.stringify({
    bench: 'transfer-nat',
    bytes: BYTES,
    runs: RUNS,
    directMBps: direct.best,
    relayedMBps: relayed.best,
    holePunchedMBps: punched.best,
    relayedRatio: +(relayed.best / direct.best).toFixed(3),
    holePunchedRatio: +(punched.best / direct.best).toFixed(3),
    ...(mapped !== undefined
      ? { upnpMappedMBps: mapped.best, upnpMappedRatio: +(mapped.best / direct.best).toFixed(3) }
      : {}),
    paths: { direct: direct.paths, relayed: relayed.paths, holePunched: punched.paths,
      ...(mapped !== undefined ? { upnpMapped: mapped.paths } : {}) }
  }))
} finally {
  await lab.close()
  rmSync(dir, { recursive: true, force: true })
}
process.exit(0)
