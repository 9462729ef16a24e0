// fedit bootstrap: a DHT server and circuit relay with a stable identity; prints the multiaddrs peers pass to
// --bootstrap.
import '../../node/polyfill.ts'
import { existsSync, readFileSync } from 'node:fs'
import { CliError } from '../cli-error.ts'
import { loadOrCreateKey, readKeyFile } from '../../node/identity.ts'
import { startBootstrap, dialableAddrs } from '../../bootstrap/bootstrap-node.ts'
import { ConnectionLog } from '../../bootstrap/connection-log.ts'
import { parseFlags } from '../flags.ts'
import { readSwarmKeyFile } from '../../node/swarm-key.ts'
import { parseListenAddr } from '../../node/observe/http-listen.ts'
import { createMetricsRegistry, registerBootstrapMetrics } from '../../node/observe/metrics.ts'
import { serveMetrics } from '../../node/observe/metrics-server.ts'
import type { HttpEndpoint } from '../../node/observe/http-listen.ts'
import { RELAY_FLAGS, relayHelp, relayLimits } from '../relay-flags.ts'

export const help = `usage: fedit bootstrap [--listen MULTIADDR...] [--announce MULTIADDR...] [--key FILE]
                       [--swarm-key FILE] [--allow FILE] [--local] [--metrics HOST:PORT]
                       [--no-relay] [--relay-slots N] [--relay-data-mib N] [--relay-duration-s N]

Runs a bootstrap node (a fedit DHT server) and prints its multiaddrs, one per line. Peers join with
\`fedit peer --bootstrap <one of them>\` (or a file of them: --bootstrap-file). It is also a circuit relay:
peers behind NATs that nobody can dial reserve a slot on it and are reached through it.
  --listen MULTIADDR...  addresses to listen on (default /ip4/0.0.0.0/tcp/4001)
  --announce MULTIADDR   the address peers reach it at, advertised as it is (e.g. /ip4/PUBLIC-IP/tcp/4001);
                         without it a public address is advertised once other nodes confirmed it (AutoNAT)
  --key FILE             identity key (default ./bootstrap.key, created if missing) so the address stays stable
  --swarm-key FILE       private federation: the federation's swarm key (fedit keygen --swarm-key FILE)
  --allow FILE           private federation: only the peer ids in FILE (one per line, # comments) may connect
  --local                many nodes on one machine (tests, demos): allow loopback, never on a public network
  --metrics HOST:PORT    serve Prometheus metrics (fedit_* and libp2p's) at http://HOST:PORT/metrics (HOST: 127.0.0.1
                         by default); its address goes to stderr, so stdout stays the list of multiaddrs
  --no-relay             do not relay for peers behind NATs (--local: no relay unless a --relay-* flag is given)
${relayHelp}
Logs peers connecting and leaving (one line each, at most 5 per 10 s, then a count). Stops cleanly on
Ctrl-C / SIGTERM.`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    strings: ['key', 'swarm-key', 'allow', 'metrics', ...RELAY_FLAGS],
    lists: ['listen', 'announce'],
    booleans: ['local', 'no-relay']
  })
  let metricsAddr
  try {
    metricsAddr = f.strings.has('metrics') ? parseListenAddr(f.strings.get('metrics')!, '--metrics') : undefined
  } catch (err) {
    throw new CliError((err as Error).message, 2)
  }
  // on one machine (--local) everyone is dialable: no relay unless asked for with a limit flag
  const askedRelay = RELAY_FLAGS.some((n) => f.strings.has(n))
  const relay = f.booleans.has('no-relay') || (f.booleans.has('local') && !askedRelay) ? undefined : relayLimits(f)
  const keyPath = f.strings.get('key') ?? 'bootstrap.key'
  let key
  try {
    key = f.strings.has('key') && existsSync(keyPath) ? readKeyFile(keyPath) : await loadOrCreateKey(keyPath)
  } catch (err) {
    throw new CliError((err as Error).message)
  }
  let swarmKey: Uint8Array | undefined
  if (f.strings.has('swarm-key')) {
    try {
      swarmKey = readSwarmKeyFile(f.strings.get('swarm-key')!)
    } catch (err) { throw new CliError((err as Error).message) }
  }
  let allowList: Set<string> | undefined
  if (f.strings.has('allow')) {
    const p = f.strings.get('allow')!
    try {
      allowList = new Set(readFileSync(p, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim())
        .filter((l) => l !== ''))
    } catch { throw new CliError(`cannot read ${p}`) }
  }
  const metrics = metricsAddr !== undefined ? createMetricsRegistry() : undefined
  const host = await startBootstrap({
    privateKey: key, listen: f.lists.get('listen'), announce: f.lists.get('announce'), local: f.booleans.has('local'),
    swarmKey, allowList, relay, metrics: metrics?.libp2p
  })
  let endpoint: HttpEndpoint | undefined
  let flusher: NodeJS.Timeout | undefined
  try {
    if (metrics !== undefined && metricsAddr !== undefined) {
      registerBootstrapMetrics(metrics.registry, host)
      endpoint = await serveMetrics(metricsAddr, metrics.registry)
      console.error(`metrics: ${endpoint.url}`)
    }
    for (const a of dialableAddrs(host)) console.log(a)
    if (relay !== undefined) {
      const data = relay.dataBytes === 0 ? 'unlimited in data' : `${relay.dataBytes / 2 ** 20} MiB each way`
      const time = relay.durationSeconds === 0 ? 'no time limit' : `${relay.durationSeconds} s`
      console.error(`relay: up to ${relay.maxReservations} reservations; each relayed connection ${data}, ${time}`)
    }
    const stamp = (): string => new Date().toISOString().slice(11, 19)
    const connections = new ConnectionLog()
    const total = (): number => host.getPeers().length
    const show = (lines: string[]): void => { for (const l of lines) console.log(`${stamp()} ${l}`) }
    host.addEventListener('peer:connect', (e) => {
      show(connections.event(Date.now(), 'connected', e.detail.toString(), total()))
    })
    host.addEventListener('peer:disconnect', (e) => {
      show(connections.event(Date.now(), 'left', e.detail.toString(), total()))
    })
    flusher = setInterval(() => { show(connections.flush(Date.now(), total())) }, 2000)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
  } finally {
    clearInterval(flusher)
    await endpoint?.close()
    await host.stop()
  }
  return 0
}
