// The network commands' one-line errors, as a user meets them: `node bin/fedit.js ...` in a child process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
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
    assert.equal(r.err, `fedit bootstrap: cannot listen on ${addr}: the port is in use (another program or fedit node holds it); choose another --listen\n`)
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
    assert.match(again.err, new RegExp(`^fedit keygen: ${file} already exists; use --force to replace it with a new ${what}`))
    assert.equal(fedit('keygen', flag, file, '--force').code, 0)
  }
})
