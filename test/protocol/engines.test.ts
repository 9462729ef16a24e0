// `npm ci` warns EBADENGINE when a locked package wants a newer Node than package.json's engines promise
// (p-retry 8, through libp2p, declared Node 22: package.json overrides it with 7.1.1, the same API on Node 20).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import semver from 'semver'

test('every locked package runs on the oldest Node that package.json admits', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } }
  const lock = JSON.parse(readFileSync('package-lock.json',
    'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[] }> }
  const oldest = semver.minVersion(pkg.engines.node)
  assert.ok(oldest !== null)
  const wanting = Object.entries(lock.packages)
    .flatMap(([name, p]) => {
      const range = Array.isArray(p.engines) ? undefined : p.engines?.node
      return range !== undefined && !semver.satisfies(oldest, range) ? [`${name} wants node ${range}`] : []
    })
  assert.deepEqual(wanting, [], `package.json says node ${pkg.engines.node}`)
})
