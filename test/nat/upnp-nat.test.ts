// UPnP through a real home router (network namespaces; nat-lab.sh): miniupnpd runs on home1's router as its
// UPnP IGD. A home peer run with --upnp finds it (SSDP on the home side), gets a port mapping, AutoNAT then
// confirms the mapped address (the bootstrap dials it back), and a public peer dials that address and fetches
// an adapter over a direct connection, no relay. Needs root, iproute2, nftables and miniupnpd (Debian's
// miniupnpd-nftables); skips with the reason otherwise.
import '../../node/polyfill.ts'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { miniupnpdMissing, keepLabLog, NatLab, natLabMissing } from './nat-lab.ts'
import type { LabNode } from './nat-lab.ts'
import { reachabilityOf } from '../../node/reachability.ts'
import { Reachability } from '../../protocol/election.ts'

const missing = natLabMissing() ?? miniupnpdMissing()
const BYTES = 2 * 2 ** 20
// home1's router's address on the "internet" (nat-lab.sh)
const MAPPED = '/ip4/11.0.0.11/tcp/4101'

/** the first event of `node` that satisfies `ok` (bounded; the node's events are appended as they come) */
async function eventWhere (node: LabNode, what: string, ok: (e: Record<string, unknown>) => boolean,
  ms: number): Promise<Record<string, unknown>> {
  const until = Date.now() + ms
  for (;;) {
    const hit = node.events.find(ok)
    if (hit !== undefined) return hit
    if (Date.now() > until) throw new Error(`${node.name}: ${what} within ${ms} ms`)
    if (node.child.exitCode !== null) throw new Error(`${node.name} exited`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const TITLE = 'UPnP: a home peer with --upnp gets a mapping from its router, is found public and dialled directly'

test(TITLE, { skip: missing, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-upnp-'))
  const log: string[] = []
  const lab = new NatLab(dir, keepLabLog(log))
  try {
    lab.up()
    const router = lab.upnpRouter(1)
    const boot = lab.start('boot', {
      role: 'bootstrap', name: 'bootstrap', keySeed: 1, listen: ['/ip4/0.0.0.0/tcp/4001'],
      announce: ['/ip4/11.0.0.1/tcp/4001']
    })
    const bootAddr = `/ip4/11.0.0.1/tcp/4001/p2p/${String((await boot.next('ready', 60_000)).id)}`
    const home = lab.start('h1', {
      role: 'serve', name: 'home1-upnp', keySeed: 22, listen: ['/ip4/0.0.0.0/tcp/4101'], bootstrap: [bootAddr],
      bytes: BYTES, upnp: true
    })
    const served = await home.next('ready', 60_000)
    // the router found (SSDP on the home side) and asked for a mapping of the peer's port
    await eventWhere(router, 'no port mapping', (e) => String(e.line).includes('redirecting port 4101 to 10.1.0.2'),
      60_000)
    // a public peer dials the mapped address; AutoNAT v2 asks each newly connected peer to dial back the
    // addresses not yet confirmed, so this connection also confirms it
    const fetch = lab.start('pub', {
      role: 'fetch', name: 'fetch-pub', keySeed: 31, listen: ['/ip4/0.0.0.0/tcp/0'], bootstrap: [bootAddr],
      bytes: BYTES, hash: String(served.hash), from: `${MAPPED}/p2p/${String(served.id)}`, runs: 1
    })
    // advertised only once AutoNAT confirmed it: the router's public address with the mapped port
    const confirmed = await eventWhere(home, 'no confirmed UPnP-mapped address',
      (e) => e.ev === 'addrs' && (e.addrs as string[]).some((a) => a.startsWith(MAPPED)), 60_000)
    const addrs = (confirmed.addrs as string[]).map((a) => multiaddr(a))
    assert.equal(reachabilityOf(addrs), Reachability.Public, addrs.join(' '))
    const done = await fetch.next('done', 60_000)
    const paths = done.paths as string[]
    assert.ok(paths.length === 1 && paths[0]!.startsWith('direct ('), `paths: ${paths.join('; ')}`)
    // the fetch's connection is the mapped address, and none is relayed; not "the only connection": under load more
    // direct ones were still open when the fetch ended (a second to the mapped port, and one from the router's
    // masquerade port, the home peer's own dial out; 2 of 5 runs with the CPU hog), all of them the router's address
    const remote = done.remote as string[]
    assert.ok(remote.includes(`${MAPPED}/p2p/${String(served.id)}`), `connections: ${remote.join(' ')}`)
    assert.ok(remote.every((a) => a.startsWith('/ip4/11.0.0.11/tcp/') && !a.includes('/p2p-circuit')),
      `connections: ${remote.join(' ')}`)
    console.log(`# UPnP-mapped fetch of ${BYTES / 2 ** 20} MiB: ${(done.mbps as number[])[0]!.toFixed(1)} MB/s`)
  } catch (err) {
    console.log(log.join('\n'))
    throw err
  } finally {
    await lab.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

if (missing !== undefined) console.log(`# upnp-nat skipped: ${missing}`)
