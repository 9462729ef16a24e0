#!/usr/bin/env node
// Runs every test/**/*.test.ts, each file in its own node process with node's test runner (spec reporter).
// Usage: npm test [-- path-substring ...]  (filters the files by substring)
//
// Two files at a time (FEDIT_TEST_CONCURRENCY sets it): most of the suite waits on sockets, so this takes ~2/3
// of the time of one at a time. But never two of the files that run a fleet of peer processes or a NAT lab at
// once: each of those keeps both cores busy with several trainers, and two together (plus the rest) slowed a
// 3-peer job past its test's timeout. Each file's output is printed whole when it ends, then a summary.
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawn } from 'node:child_process'
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

/** files whose tests run several `fedit peer` processes (real training) or a NAT lab of namespaces */
const HEAVY = ['test/sim/process-', 'test/nat/', 'test/bin/network-commands', 'test/bin/observe-commands']
const heavy = (f) => HEAVY.some((h) => f.includes(h))
/** a file that outlives every test timeout in it (a handle left open) is ended, and fails */
const FILE_LIMIT_MS = 20 * 60_000

const concurrency = Math.max(1, Number(process.env.FEDIT_TEST_CONCURRENCY ?? 2))
// the heavy files first: they are the longest, and the light ones fill the other slot meanwhile
const queue = [...files.filter(heavy), ...files.filter((f) => !heavy(f))]
const totals = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 }
const failed = []
let heavyRunning = false
const t0 = Date.now()

function runFile (file) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['--import', 'tsx', '--test-reporter=spec', file],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FEDIT_TEST: '1' } })
    let out = ''
    child.stdout.on('data', (b) => { out += b })
    child.stderr.on('data', (b) => { out += b })
    const limit = setTimeout(() => {
      out += `\n✖ ${file}: still running after ${FILE_LIMIT_MS / 60_000} min; killed\n`
      child.kill('SIGKILL')
    }, FILE_LIMIT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(limit)
      const secs = ((Date.now() - started) / 1000).toFixed(1)
      process.stdout.write(`\n▶ ${file} (${secs} s${code === 0 ? '' : `, exit ${signal ?? code}`})\n${out}`)
      for (const k of Object.keys(totals)) {
        const m = new RegExp(`^ℹ ${k} (\\d+)$`, 'm').exec(out)
        if (m !== null) totals[k] += Number(m[1])
      }
      if (code !== 0) failed.push(file)
      resolve()
    })
  })
}

/** the next file this slot may take: a heavy one only while no other heavy one runs */
function take () {
  const i = queue.findIndex((f) => !heavy(f) || !heavyRunning)
  return i < 0 ? undefined : queue.splice(i, 1)[0]
}

async function slot () {
  for (;;) {
    const file = take()
    if (file === undefined) {
      if (queue.length === 0) return
      await new Promise((resolve) => setTimeout(resolve, 200)) // only heavy files are left, one is running
      continue
    }
    if (heavy(file)) heavyRunning = true
    await runFile(file)
    if (heavy(file)) heavyRunning = false
  }
}

await Promise.all(Array.from({ length: concurrency }, slot))
const mins = ((Date.now() - t0) / 60_000).toFixed(1)
console.log(`\n${files.length} files in ${mins} min, ${concurrency} at a time: ` +
  Object.entries(totals).map(([k, v]) => `${k} ${v}`).join(', '))
if (failed.length > 0) console.log(`✖ failed files:\n${failed.map((f) => `  ${f}`).join('\n')}`)
process.exit(failed.length > 0 ? 1 : 0)
