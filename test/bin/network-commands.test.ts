// The network commands' one-line errors, as a user meets them: `node bin/fedit.js ...` in a child process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { gunzipSync } from 'node:zlib'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '../../node/host.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'fedit-net-cli-'))
const fedit = (...args: string[]): { code: number | null, out: string, err: string } => {
  const r = spawnSync(process.execPath, ['bin/fedit.js', ...args], { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('a --listen port in use is one line naming the address, not a stack', async () => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const port = (server.address() as AddressInfo).port
    const addr = `/ip4/127.0.0.1/tcp/${port}`
    const r = fedit('bootstrap', '--listen', addr, '--local', '--key', join(tmp(), 'boot.key'))
    assert.equal(r.code, 1)
    assert.equal(r.err,
      `fedit bootstrap: cannot listen on ${addr}: the port is in use (another program or fedit node holds it); ` +
      `choose another --listen\n`)
  } finally {
    server.close()
  }
})

test('keygen on an existing file says how to replace it (--force)', () => {
  const dir = tmp()
  for (const [flag, what] of [['--out', 'identity'], ['--swarm-key', 'swarm key']] as const) {
    const file = join(dir, flag.slice(2))
    assert.equal(fedit('keygen', flag, file).code, 0)
    const again = fedit('keygen', flag, file)
    assert.equal(again.code, 1)
    assert.match(again.err,
      new RegExp(`^fedit keygen: ${file} already exists; use --force to replace it with a new ${what}`))
    assert.equal(fedit('keygen', flag, file, '--force').code, 0)
  }
})

/** Spawns fedit with `args`; resolves when stdout has a line matching each of `want` (in any order), then stops it. */
async function linesOf (args: string[], want: RegExp[], timeoutMs = 90_000,
  onLine?: (line: string) => Promise<void>): Promise<string[]> {
  const child = spawn(process.execPath, ['bin/fedit.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out; stdout:\n${lines.join('\n')}\nstderr:\n${err}`))
      }, timeoutMs)
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`exited ${code}; stdout:\n${lines.join('\n')}\nstderr:\n${err}`))
      })
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line)
        onLine?.(line).catch(reject)
        if (want.every((re) => lines.some((l) => re.test(l)))) { clearTimeout(timer); resolve() }
      })
    })
    return lines
  } finally {
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('close', resolve))
  }
}

test('a peer names its skipped data lines, its held-out lines and an unreachable bootstrap', async () => {
  const dir = tmp()
  const data = join(dir, 'mine.jsonl')
  const lines = gunzipSync(readFileSync('assets/dolly/dolly-15k.jsonl.gz')).toString('utf8').split('\n').slice(0, 120)
  lines[2] = '{broken json'
  lines[94] = '{"instruction": 5}'
  writeFileSync(data, lines.join('\n') + '\n')
  const out = await linesOf(['peer', '--job', 'examples/job.json', '--model', 'assets/stories260K/stories260K.bin',
    '--data', data, '--workers', '1',
    '--bootstrap', '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWExukfEbi187ScwzZGCPPu5hv1PVjnim1oRhCAMHYc3Um', '--state',
      join(dir, 'state'),
    '--local', '--listen', '/ip4/127.0.0.1/tcp/0'], [/bootstrap unreachable: /, /waiting for members: 1\/4 live/])
  const text = out.map((l) => l.replace(/^\d\d:\d\d:\d\d /, '')).join('\n')
  assert.match(text, new RegExp(`^data: skipped ${data}:3: not valid JSON$`, 'm'))
  assert.match(text, new RegExp(`^data: skipped ${data}:95: field "instruction" is missing or not a string$`, 'm'))
  assert.match(text, new RegExp(`^data: ${data}: 118 records \\(2 malformed lines skipped\\); lines 1-80 are held out`,
    'm'))
  assert.match(text, /^bootstrap unreachable: \/ip4\/127\.0\.0\.1\/tcp\/9\/p2p\/12D3KooW\w+: .*ECONNREFUSED/m)
})

test('the bootstrap logs a peer connecting and leaving', async () => {
  const client = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true })
  try {
    const out = await linesOf(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--local', '--key',
      join(tmp(), 'boot.key')],
      [/^\d\d:\d\d:\d\d peer 12D3KooW\w+ connected \(1 connected\)$/,
        /^\d\d:\d\d:\d\d peer 12D3KooW\w+ left \(0 connected\)$/], 60_000,
      async (line) => {
        if (!line.startsWith('/ip4/')) return
        await client.dial(multiaddr(line))
        await client.hangUp(multiaddr(line))
      })
    assert.ok(out.some((l) => l.includes(`peer ${client.peerId.toString()} connected`)))
  } finally {
    await client.stop()
  }
})
