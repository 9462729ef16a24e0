// fedit bootstrap: a DHT server with a stable identity; prints the multiaddrs peers pass to --bootstrap.
import '../../node/polyfill.ts'
import { existsSync, readFileSync } from 'node:fs'
import { CliError } from '../cli-error.ts'
import { loadOrCreateKey, readKeyFile } from '../../node/identity.ts'
import { startBootstrap, dialableAddrs } from '../../bootstrap/bootstrap-node.ts'
import { ConnectionLog } from '../../bootstrap/connection-log.ts'
import { parseFlags } from '../flags.ts'
import { readSwarmKeyFile } from '../../node/swarm-key.ts'

export const help = `usage: fedit bootstrap [--listen MULTIADDR...] [--key FILE] [--swarm-key FILE] [--allow FILE] [--local]

Runs a bootstrap node (a fedit DHT server) and prints its multiaddrs, one per line. Peers join with
\`fedit peer --bootstrap <one of them>\` (or a file of them: --bootstrap-file).
  --listen MULTIADDR...  addresses to listen on (default /ip4/0.0.0.0/tcp/4001)
  --key FILE             identity key (default ./bootstrap.key, created if missing) so the address stays stable
  --swarm-key FILE       private federation: the federation's swarm key (fedit keygen --swarm-key FILE)
  --allow FILE           private federation: only the peer ids in FILE (one per line, # comments) may connect
  --local                many nodes on one machine (tests, demos): allow loopback, never on a public network
Logs peers connecting and leaving (one line each, at most 5 per 10 s, then a count). Stops cleanly on
Ctrl-C / SIGTERM.`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['key', 'swarm-key', 'allow'], lists: ['listen'], booleans: ['local'] })
  const keyPath = f.strings.get('key') ?? 'bootstrap.key'
  let key
  try {
    key = f.strings.has('key') && existsSync(keyPath) ? readKeyFile(keyPath) : await loadOrCreateKey(keyPath)
  } catch (err) {
    throw new CliError((err as Error).message)
  }
  let swarmKey: Uint8Array | undefined
  if (f.strings.has('swarm-key')) { try { swarmKey = readSwarmKeyFile(f.strings.get('swarm-key')!) } catch (err) { throw new CliError((err as Error).message) } }
  let allowList: Set<string> | undefined
  if (f.strings.has('allow')) {
    const p = f.strings.get('allow')!
    try { allowList = new Set(readFileSync(p, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '')) } catch { throw new CliError(`cannot read ${p}`) }
  }
  const host = await startBootstrap({ privateKey: key, listen: f.lists.get('listen'), local: f.booleans.has('local'), swarmKey, allowList })
  for (const a of dialableAddrs(host)) console.log(a)
  const stamp = (): string => new Date().toISOString().slice(11, 19)
  const connections = new ConnectionLog()
  const total = (): number => host.getPeers().length
  const show = (lines: string[]): void => { for (const l of lines) console.log(`${stamp()} ${l}`) }
  host.addEventListener('peer:connect', (e) => { show(connections.event(Date.now(), 'connected', e.detail.toString(), total())) })
  host.addEventListener('peer:disconnect', (e) => { show(connections.event(Date.now(), 'left', e.detail.toString(), total())) })
  const flusher = setInterval(() => { show(connections.flush(Date.now(), total())) }, 2000)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  clearInterval(flusher)
  await host.stop()
  return 0
}
