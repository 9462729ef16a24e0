#!/usr/bin/env node
// The `fedit` command. Sources are TypeScript, run through tsx's loader (registered here, and again in
// each worker thread by its own entry file), so a fresh clone needs no build step.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('./cli.ts')
process.exitCode = await main(process.argv.slice(2))
