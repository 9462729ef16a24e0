// bench/transfer: a 40 MB adapter (LLaMA-7B rank-8 in fp16) between two peers over libp2p
// (/fedit/adapter/1.0.0: TCP + noise + yamux, chunked, sha256-verified) versus a raw TCP socket on loopback.
import '../node/polyfill.ts'
import net from 'node:net'
import { createHash, randomFillSync } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '../node/host.ts'
import { fetchAdapter, serveAdapters } from '../node/transfer.ts'
import { sha256Hex } from '../node/adapter-codec.ts'

const BYTES = 40 * 1000 * 1000
const RUNS = 3
const JOB = '0'.repeat(64)
const blob = new Uint8Array(BYTES)
for (let o = 0; o < BYTES; o += 65536) randomFillSync(blob, o, Math.min(65536, BYTES - o))
const hash = sha256Hex(blob)

async function libp2pRuns (): Promise<number[]> {
  const a = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], local: true })
  const b = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], local: true })
  await serveAdapters(a, { jobId: JOB, lookup: (h) => h === hash ? blob : undefined, timeoutMs: 60_000 })
  await b.dial(multiaddr(a.getMultiaddrs()[0]!))
  const out: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    await fetchAdapter(b, a.peerId, hash, { jobId: JOB, maxBytes: BYTES, timeoutMs: 60_000 })
    out.push(BYTES / 1e6 / ((performance.now() - t0) / 1000))
  }
  await a.stop(); await b.stop()
  return out
}

// the same work on a bare socket: 4-byte length, 1 MiB writes with backpressure, sha256 on receipt into a preallocated buffer
async function rawRuns (): Promise<number[]> {
  const server = net.createServer((sock) => {
    sock.once('data', () => {
      const hdr = Buffer.alloc(4); hdr.writeUInt32BE(BYTES); sock.write(hdr)
      let o = 0
      const pump = (): void => {
        while (o < BYTES) {
          const end = Math.min(o + (1 << 20), BYTES)
          const ok = sock.write(blob.subarray(o, end)); o = end
          if (!ok) { sock.once('drain', pump); return }
        }
        sock.end()
      }
      pump()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const out: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('get'))
      const body = new Uint8Array(BYTES); const h = createHash('sha256'); let pos = -4; const pre = Buffer.alloc(4)
      c.on('data', (d: Buffer) => {
        let off = 0
        while (pos < 0 && off < d.length) { pre[4 + pos] = d[off]!; pos++; off++ }
        const rest = d.subarray(off); body.set(rest, pos); h.update(rest); pos += rest.length
      })
      c.on('end', () => resolve(h.digest('hex'))); c.on('error', reject)
    })
    if (got !== hash) throw new Error('raw transfer corrupted')
    out.push(BYTES / 1e6 / ((performance.now() - t0) / 1000))
  }
  server.close()
  return out
}

const best = (xs: number[]): number => Math.max(...xs)
const lp = await libp2pRuns()
const raw = await rawRuns()
console.error(`libp2p MB/s per run: ${lp.map((x) => x.toFixed(0)).join(' ')}; raw: ${raw.map((x) => x.toFixed(0)).join(' ')}`)
const libp2pMBps = +best(lp).toFixed(1)
const rawMBps = +best(raw).toFixed(1)
console.log(JSON.stringify({ bench: 'transfer', bytes: BYTES, runs: RUNS, libp2pMBps, rawMBps, ratio: +(libp2pMBps / rawMBps).toFixed(3) }))
process.exit(0)
