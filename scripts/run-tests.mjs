#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in runner (Node 20's --test takes no globs, so we list them).
// Usage: npm test [-- path-substring ...]  (filters the files by substring)
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
function walk (dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : (p.endsWith('.test.ts') ? [p] : [])
  })
}
const filters = process.argv.slice(2)
const files = walk(join(root, 'test')).map((p) => relative(root, p)).sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
if (files.length === 0) { console.error('no test files matched'); process.exit(1) }
// one test file at a time by default: with two at a time the process-fleet test hung once (cause not found yet);
// FEDIT_TEST_CONCURRENCY=2 runs two at a time (most of the suite waits on sockets, so it takes ~2/3 of the time)
const concurrency = Number(process.env.FEDIT_TEST_CONCURRENCY ?? 1)
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec',
  `--test-concurrency=${concurrency}`, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, FEDIT_TEST: '1' } })
process.exit(r.status ?? 1)
