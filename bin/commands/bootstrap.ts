// fedit bootstrap: a DHT server with a stable identity; prints the multiaddrs peers pass to --bootstrap.
import '../../node/polyfill.ts'
import { existsSync } from 'node:fs'
import { CliError } from '../cli-error.ts'
import { loadOrCreateKey, readKeyFile } from '../../node/identity.ts'
import { startBootstrap, dialableAddrs } from '../../bootstrap/bootstrap-node.ts'
import { parseFlags } from '../flags.ts'

export const help = `usage: fedit bootstrap [--listen MULTIADDR...] [--key FILE] [--local]

Runs a bootstrap node (a fedit DHT server) and prints its multiaddrs, one per line. Peers join with
\`fedit peer --bootstrap <one of them>\` (or a file of them: --bootstrap-file).
  --listen MULTIADDR...  addresses to listen on (default /ip4/0.0.0.0/tcp/4001)
  --key FILE             identity key (default ./bootstrap.key, created if missing) so the address stays stable
  --local                many nodes on one machine (tests, demos): allow loopback, never on a public network
Stops cleanly on Ctrl-C / SIGTERM.`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['key'], lists: ['listen'], booleans: ['local'] })
  const keyPath = f.strings.get('key') ?? 'bootstrap.key'
  let key
  try {
    key = f.strings.has('key') && existsSync(keyPath) ? readKeyFile(keyPath) : await loadOrCreateKey(keyPath)
  } catch (err) {
    throw new CliError((err as Error).message)
  }
  const host = await startBootstrap({ privateKey: key, listen: f.lists.get('listen'), local: f.booleans.has('local') })
  for (const a of dialableAddrs(host)) console.log(a)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await host.stop()
  return 0
}
