// bench/transfer: a 40 MB adapter (LLaMA-7B rank-8 in fp16) between two peers over libp2p
// (/fedit/adapter/1.0.0: TCP + noise + yamux, chunked, sha256-verified) versus a raw TCP socket on loopback
// (4-byte length, 1 MiB writes with backpressure, sha256 on receipt into a preallocated buffer).
//
// Two modes, both in every run:
//   two-processes (the headline figures libp2pMBps, rawMBps, ratio): the serving peer is a child process, the
//     fetching peer is this one, as in reality (each side has its own thread for noise and hashing);
//   sameProcess: both peers in this one JS thread, where the sender's encryption, the receiver's decryption,
//     yamux framing and the sha256 all take turns on one core.
// noiseCipherMBps explains the gap: node's chacha20-poly1305 sealing and opening the 40 MB in noise-sized
// (64 KiB) messages in this thread, the work libp2p does and the raw socket does not.
// Figures are the best of RUNS (the machine is shared and noisy); per-run figures go to stderr.
import '../node/polyfill.ts'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '../node/host.ts'
import type { FeditHost } from '../node/host.ts'
import { fetchAdapter, serveAdapters } from '../node/transfer.ts'
import { sha256Hex } from '../node/adapter-codec.ts'

const BYTES = 40 * 1000 * 1000
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const JOB = '0'.repeat(64)
const CHUNK = 1 << 20

function makeBlob (): { blob: Uint8Array, hash: string } {
  const blob = new Uint8Array(BYTES)
  for (let o = 0; o < BYTES; o += 65536) randomFillSync(blob, o, Math.min(65536, BYTES - o))
  return { blob, hash: sha256Hex(blob) }
}

async function libp2pServer (blob: Uint8Array, hash: string): Promise<FeditHost> {
  const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  await serveAdapters(host, { jobId: JOB, lookup: (h) => h === hash ? blob : undefined, timeoutMs: 60_000 })
  return host
}

function rawServer (blob: Uint8Array): Promise<net.Server> {
  const server = net.createServer((sock) => {
    sock.once('data', () => {
      const hdr = Buffer.alloc(4); hdr.writeUInt32BE(blob.byteLength); sock.write(hdr)
      let o = 0
      const pump = (): void => {
        while (o < blob.byteLength) {
          const end = Math.min(o + CHUNK, blob.byteLength)
          const ok = sock.write(blob.subarray(o, end)); o = end
          if (!ok) { sock.once('drain', pump); return }
        }
        sock.end()
      }
      pump()
    })
    sock.on('error', () => {})
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

async function libp2pFetches (addr: string, hash: string): Promise<number[]> {
  const b = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  const ma = multiaddr(addr)
  await b.dial(ma)
  const out: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    await fetchAdapter(b, peerIdFromString(ma.getComponents().find((c) => c.name === 'p2p')!.value!), hash,
      { jobId: JOB, maxBytes: BYTES, timeoutMs: 60_000 })
    out.push(BYTES / 1e6 / ((performance.now() - t0) / 1000))
  }
  await b.stop()
  return out
}

async function rawFetches (port: number, hash: string): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('get'))
      const body = new Uint8Array(BYTES); const h = createHash('sha256'); let pos = -4
      c.on('data', (d: Buffer) => {
        let off = 0
        while (pos < 0 && off < d.length) { pos++; off++ } // skip the length prefix
        const rest = d.subarray(off); body.set(rest, pos); h.update(rest); pos += rest.length
      })
      c.on('end', () => resolve(h.digest('hex'))); c.on('error', reject)
    })
    if (got !== hash) throw new Error('raw transfer corrupted')
    out.push(BYTES / 1e6 / ((performance.now() - t0) / 1000))
  }
  return out
}

/** chacha20-poly1305 seal + open of the blob in 65519-byte noise messages, MB/s of payload. */
function cipherRuns (blob: Uint8Array): number[] {
  const key = randomBytes(32); const nonce = Buffer.alloc(12); const ad = new Uint8Array(0)
  const out: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    for (let o = 0; o < blob.byteLength; o += 65519) {
      const p = blob.subarray(o, Math.min(o + 65519, blob.byteLength))
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
      c.setAAD(ad, { plaintextLength: p.byteLength })
      const ct = c.update(p); c.final(); const tag = c.getAuthTag()
      const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
      d.setAAD(ad, { plaintextLength: ct.byteLength }); d.setAuthTag(tag)
      d.update(ct); d.final()
    }
    out.push(BYTES / 1e6 / ((performance.now() - t0) / 1000))
  }
  return out
}

/** Starts this file as a serving child process; resolves with what it prints (its address and the blob's hash). */
function serveInChild (kind: 'libp2p' | 'raw'): Promise<{ addr: string, hash: string, stop: () => void }> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `serve-${kind}`],
    { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let buf = ''
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`serving child exited (${code})`)))
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      const m = /^SERVING (\S+) ([0-9a-f]{64})$/m.exec(buf)
      if (m !== null) resolve({ addr: m[1]!, hash: m[2]!, stop: () => { child.stdin.end() } })
    })
  })
}

async function childMain (kind: string): Promise<void> {
  const { blob, hash } = makeBlob()
  let stop: () => Promise<void>
  if (kind === 'serve-libp2p') {
    const host = await libp2pServer(blob, hash)
    console.log(`SERVING ${host.getMultiaddrs()[0]!.toString()} ${hash}`)
    stop = async () => { await host.stop() }
  } else {
    const server = await rawServer(blob)
    console.log(`SERVING ${(server.address() as net.AddressInfo).port} ${hash}`)
    stop = async () => { server.close() }
  }
  process.stdin.on('end', () => { void stop().finally(() => process.exit(0)) })
  process.stdin.resume()
}

const role = process.argv[2]
if (role !== undefined && role.startsWith('serve-')) {
  await childMain(role)
} else {
  const best = (xs: number[]): number => +Math.max(...xs).toFixed(1)
  const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ')
  // two processes
  const lpChild = await serveInChild('libp2p')
  const lp2 = await libp2pFetches(lpChild.addr, lpChild.hash)
  lpChild.stop()
  const rawChild = await serveInChild('raw')
  const raw2 = await rawFetches(Number(rawChild.addr), rawChild.hash)
  rawChild.stop()
  // one process
  const { blob, hash } = makeBlob()
  const a = await libp2pServer(blob, hash)
  const lp1 = await libp2pFetches(`${a.getMultiaddrs()[0]!.toString()}`, hash)
  await a.stop()
  const server = await rawServer(blob)
  const raw1 = await rawFetches((server.address() as net.AddressInfo).port, hash)
  server.close()
  const cipher = cipherRuns(blob)
  console.error(`MB/s per run: two processes libp2p ${fmt(lp2)}, raw ${fmt(raw2)}; one process libp2p ${fmt(lp1)}, ` +
    `raw ${fmt(raw1)}; chacha20-poly1305 seal+open ${fmt(cipher)}`)
  const libp2pMBps = best(lp2)
  const rawMBps = best(raw2)
  console.log(JSON.stringify({
    bench: 'transfer',
    mode: 'two-processes',
    bytes: BYTES,
    runs: RUNS,
    libp2pMBps,
    rawMBps,
    ratio: +(libp2pMBps / rawMBps).toFixed(3),
    sameProcess: { libp2pMBps: best(lp1), rawMBps: best(raw1), ratio: +(best(lp1) / best(raw1)).toFixed(3) },
    noiseCipherMBps: best(cipher)
  }))
  process.exit(0)
}
