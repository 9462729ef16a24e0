#!/usr/bin/env node
// node scripts/profile-packages.mjs FILE.cpuprofile: the profile's self time per package (by each frame's url),
// as shares of the busy (not idle) sampled time, largest first. A markdown table on stdout. Time in node's own
// code, the small shared libraries and wasm counts for the nearest package above it on the stack (a protobuf
// decode called by gossipsub is gossipsub's cost), so the table answers "which subsystem", not "which helper".
import { readFileSync } from 'node:fs'

const file = process.argv[2]
if (file === undefined) { console.error('usage: node scripts/profile-packages.mjs FILE.cpuprofile'); process.exit(2) }
let prof
try {
  prof = JSON.parse(readFileSync(file, 'utf8'))
} catch (e) {
  console.error(`${file}: not a readable .cpuprofile (${e.message})`); process.exit(1)
}
const GROUPS = [
  [/@libp2p\/gossipsub|@chainsafe\/libp2p-gossipsub/, 'gossipsub'],
  [/@chainsafe\/libp2p-noise|@libp2p\/noise|@chainsafe\/as-chacha20poly1305|chacha|@noble\/ciphers/, 'noise / chacha'],
  [/@noble\/curves|@noble\/hashes|@libp2p\/crypto/, '@noble / libp2p crypto (signatures, hashes)'],
  [/@libp2p\/yamux|@chainsafe\/libp2p-yamux/, 'yamux'],
  [/@libp2p\/kad-dht/, 'kad-dht'],
  [/@libp2p\/identify/, 'identify'],
  [/@libp2p\/ping/, 'ping'],
  [/@libp2p\/tcp/, 'tcp'],
  [/node_modules\/libp2p\/|@libp2p\/utils|@libp2p\/peer-store|@libp2p\/multistream-select/, 'libp2p core'],
  [/^file:\/\/(?!.*node_modules)/, 'fedit (Hellos, member view, round clock)'],
  [/tsx|esbuild/, 'tsx loader'],
]
const PASS_THROUGH = new RegExp([
  'protons-runtime', 'uint8arraylist', '/it-', 'multiformats', 'uint8arrays', 'uint8-varint', 'p-queue', 'race-signal',
  'abort-error', 'progress-events', 'main-event', 'datastore', 'interface-store', 'mortice', '@libp2p/interface',
  '@libp2p/peer-id', '^node:', '^wasm:', '^$'
].join('|'))
const self = new Map()
const dt = prof.timeDeltas ?? []
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const groupOf = (id) => {
  for (let n = byId.get(id); n !== undefined; n = byId.get(parent.get(n.id))) {
    const url = n.callFrame.url
    if (PASS_THROUGH.test(url)) continue
    return GROUPS.find(([re]) => re.test(url))?.[1] ??
      `other: ${url.replace(/.*node_modules\//, '').split('/').slice(0, 2).join('/')}`
  }
  return 'node internals (no package above)'
}
for (let i = 0; i < prof.samples.length; i++) {
  const n = byId.get(prof.samples[i])
  const ms = (dt[i] ?? 0) / 1000
  const fn = n.callFrame.functionName
  let g
  if (fn === '(idle)') g = '(idle)'
  else if (fn === '(garbage collector)') g = 'GC'
  else if (fn === '(program)') g = '(program: native, outside JS)'
  else g = groupOf(n.id)
  self.set(g, (self.get(g) ?? 0) + ms)
}
const total = [...self.values()].reduce((a, b) => a + b, 0)
const busy = total - (self.get('(idle)') ?? 0)
console.log(`profile ${file}: ${(total / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s not idle\n`)
console.log('| self time in | share of busy time |\n| --- | --- |')
for (const [g, ms] of [...self].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1])) {
  if (ms / busy >= 0.005) console.log(`| ${g} | ${(100 * ms / busy).toFixed(1)} % |`)
}
