// Relays found through the DHT (network namespaces; nat-lab.sh): the bootstrap relays nothing (fedit bootstrap
// --no-relay) and its address is all a home peer is given. A public peer serves as a relay (fedit peer --relay).
// The home peer finds it on its own: circuit-relay-v2's discovery walks the DHT (closest-peer queries the
// bootstrap answers with the peers it knows), dials what it finds, and identify tells it which of them relay;
// it reserves a slot there and advertises <relay>/p2p-circuit. A peer behind another NAT fetches an adapter from
// it through that address. The relay announces its public address (--announce): kad-dht puts a peer in its
// routing table with the addresses it had when it connected, and without one announced a relay's public
// address appears only once AutoNAT confirmed it, after it met the bootstrap (the bootstrap then never hands it
// out; this test failed that way). Needs root, iproute2 and nftables; skips with the reason otherwise.
import '../../node/polyfill.ts'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keepLabLog, NatLab, natLabMissing } from './nat-lab.ts'
import { DEFAULT_RELAY_LIMITS } from '../../node/nat-traversal.ts'

const missing = natLabMissing()
const BYTES = 2 * 2 ** 20

const TITLE = 'a home peer finds a relay through the DHT (the bootstrap relays nothing), reserves, and is reached'

test(TITLE, { skip: missing, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-relay-dht-'))
  const log: string[] = []
  const lab = new NatLab(dir, keepLabLog(log))
  try {
    lab.up()
    const boot = lab.start('boot', {
      role: 'bootstrap', name: 'bootstrap', keySeed: 1, listen: ['/ip4/0.0.0.0/tcp/4001'],
      announce: ['/ip4/11.0.0.1/tcp/4001'], noRelay: true
    })
    const bootAddr = `/ip4/11.0.0.1/tcp/4001/p2p/${String((await boot.next('ready', 60_000)).id)}`
    // the relay: a public peer with --relay and --announce, in the bootstrap's DHT routing table once it connected
    const relay = lab.start('pub', {
      role: 'serve', name: 'relay-pub', keySeed: 41, listen: ['/ip4/0.0.0.0/tcp/4001'],
      announce: ['/ip4/11.0.0.4/tcp/4001'], bootstrap: [bootAddr], bytes: 1, relay: DEFAULT_RELAY_LIMITS
    })
    const relayId = String((await relay.next('ready', 60_000)).id)
    const home = lab.start('h1', {
      role: 'serve', name: 'home1', keySeed: 42, listen: ['/ip4/0.0.0.0/tcp/4001'], bootstrap: [bootAddr], bytes: BYTES
    })
    const served = await home.next('ready', 60_000)
    const circuit = `/p2p/${relayId}/p2p-circuit`
    const until = Date.now() + 60_000
    let advertised: string | undefined
    while (advertised === undefined) {
      const addrs = home.events.filter((e) => e.ev === 'addrs').flatMap((e) => e.addrs as string[])
      advertised = addrs.find((a) => a.includes(circuit))
      assert.ok(addrs.every((a) => !a.includes(`${bootAddr}/p2p-circuit`)), 'the bootstrap relays nothing')
      if (advertised === undefined && Date.now() > until) throw new Error('home1 advertised no relay address in 60 s')
      if (advertised === undefined) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.ok(advertised.startsWith('/ip4/11.0.0.4/tcp/4001'), advertised)

    // home2 (behind its own NAT) reaches home1 only through the relay it found
    const fetch = lab.start('h2', {
      role: 'fetch', name: 'fetch-home2', keySeed: 43, listen: ['/ip4/0.0.0.0/tcp/0'], bootstrap: [bootAddr],
      bytes: BYTES, hash: String(served.hash), from: advertised, runs: 1
    })
    const done = await fetch.next('done', 60_000)
    const paths = done.paths as string[]
    assert.ok(paths.length === 1 && paths[0]!.startsWith('relayed ('), `paths: ${paths.join('; ')}`)
    assert.ok((done.remote as string[]).every((a) => a.includes(circuit)), String(done.remote))
  } catch (err) {
    console.log(log.join('\n'))
    throw err
  } finally {
    await lab.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

if (missing !== undefined) console.log(`# relay-discovery-nat skipped: ${missing}`)
