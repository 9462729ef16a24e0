#!/usr/bin/env node
// npm run bench -- NAME [args...]: runs bench/NAME.ts; the bench prints one JSON object as its last line.
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const [name, ...rest] = process.argv.slice(2)
const root = fileURLToPath(new URL('..', import.meta.url))
const file = `bench/${name}.ts`
if (!name || !existsSync(new URL(`../${file}`, import.meta.url))) {
  console.error(`usage: npm run bench -- NAME   (no bench named ${JSON.stringify(name ?? '')} in bench/)`)
  process.exit(2)
}
const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file, ...rest],
  { cwd: root, stdio: 'inherit' })
process.exit(r.status ?? 1)
