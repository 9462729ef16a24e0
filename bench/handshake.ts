// npm run bench -- handshake [--connections 150] [--blocks 4]: what a noise handshake costs with @libp2p/noise's
// own crypto (stock) and with ours (node/noise-crypto.ts). First the X25519 operations alone, as a handshake uses
// them (a new key pair, then three agreements: the ephemeral key twice, the static key once), in microseconds;
// then whole connections on 127.0.0.1 between two minimal libp2p nodes (tcp, noise, yamux), dialled and closed one
// after another in alternating blocks, as the process CPU time per connection (both ends are in this process).
// One JSON line; compare the ratios, not the absolute figures (the machine is shared).
import '../node/polyfill.ts'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import type { ICryptoInterface } from '@libp2p/noise'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { yamux } from '@libp2p/yamux'
import { noiseCrypto } from '../node/noise-crypto.ts'
import { numberFlag } from './lib/args.ts'

const CONNECTIONS = numberFlag('connections', 150)
const BLOCKS = numberFlag('blocks', 4)

/** microseconds per handshake's worth of X25519 work at one end */
function opsUs (c: ICryptoInterface, n: number): number {
  const remote = defaultCrypto.generateX25519KeyPair()
  const fixed = c.generateX25519KeyPair()
  const t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const e = c.generateX25519KeyPair()
    c.generateX25519SharedKey(e.privateKey, remote.publicKey)
    c.generateX25519SharedKey(e.privateKey, remote.publicKey)
    c.generateX25519SharedKey(fixed.privateKey, remote.publicKey)
  }
  return Number(process.hrtime.bigint() - t) / 1e3 / n
}

async function node (c: ICryptoInterface): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: c })],
    streamMuxers: [yamux()],
    // the allow list lifts libp2p's limit on inbound connections a second from one address (5)
    connectionManager: { allow: ['/ip4/127.0.0.1/ipcidr/32'] },
    connectionMonitor: { enabled: false }
  })
}

/** process CPU milliseconds per connection dialled, upgraded and closed between a and b */
async function connectionsCpuMs (a: Libp2p, b: Libp2p, n: number): Promise<number> {
  const to = b.getMultiaddrs()[0]!
  const cpu = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    await a.dial(to, { signal: AbortSignal.timeout(10_000) })
    await a.hangUp(b.peerId)
  }
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / 1e3 / n
}

const impls = { stock: defaultCrypto, ours: noiseCrypto }
opsUs(defaultCrypto, 200); opsUs(noiseCrypto, 200) // warm-up
const ops = { stock: opsUs(defaultCrypto, 1000), ours: opsUs(noiseCrypto, 1000) }
const nodes = {
  stock: [await node(impls.stock), await node(impls.stock)],
  ours: [await node(impls.ours), await node(impls.ours)]
}
const cpu: Record<'stock' | 'ours', number[]> = { stock: [], ours: [] }
try {
  for (const k of ['stock', 'ours'] as const) await connectionsCpuMs(nodes[k][0]!, nodes[k][1]!, 20) // warm-up
  for (let b = 0; b < BLOCKS; b++) {
    for (const k of b % 2 === 0 ? ['stock', 'ours'] as const : ['ours', 'stock'] as const) {
      cpu[k].push(await connectionsCpuMs(nodes[k][0]!, nodes[k][1]!, CONNECTIONS))
    }
  }
} finally {
  for (const n of [...nodes.stock, ...nodes.ours]) await n.stop()
}
const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length
const r2 = (x: number): number => Math.round(x * 100) / 100
console.log(JSON.stringify({
  bench: 'handshake',
  x25519PerHandshakeUs: { stock: Math.round(ops.stock), ours: Math.round(ops.ours), ratio: r2(ops.ours / ops.stock) },
  cpuMsPerConnection: { stock: r2(mean(cpu.stock)), ours: r2(mean(cpu.ours)),
    ratio: r2(mean(cpu.ours) / mean(cpu.stock)) },
  blocks: { stock: cpu.stock.map(r2), ours: cpu.ours.map(r2) },
  connectionsPerBlock: CONNECTIONS
}))
