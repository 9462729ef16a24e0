// A bootstrap node: a DHT server with a stable identity that peers dial first to find the job's members, and
// (unless `relay` is left out) a circuit relay for peers behind NATs. It trains nothing and joins no job topic.
import '../node/polyfill.ts'
import type { PrivateKey } from '@libp2p/interface'
import { createHost } from '../node/host.ts'
import type { FeditHost, HostOptions } from '../node/host.ts'
import type { RelayLimits } from '../node/nat-traversal.ts'

export interface BootstrapOptions {
  readonly privateKey: PrivateKey
  readonly listen?: readonly string[]
  /** addresses to advertise as they are (the public IP and port peers reach it at) */
  readonly announce?: readonly string[]
  readonly local?: boolean
  readonly allowList?: ReadonlySet<string>
  readonly swarmKey?: Uint8Array
  readonly metrics?: HostOptions['metrics']
  /** serve as a circuit relay with these limits */
  readonly relay?: RelayLimits
}

export async function startBootstrap (opts: BootstrapOptions): Promise<FeditHost> {
  return await createHost({ ...opts, listen: opts.listen ?? ['/ip4/0.0.0.0/tcp/4001'], bootstrap: [] })
}

/** The addresses to hand to peers (--bootstrap), each ending in /p2p/<id>. */
export function dialableAddrs (host: FeditHost): string[] {
  const id = host.peerId.toString()
  return host.getMultiaddrs().map(String).map((a) => a.includes('/p2p/') ? a : `${a}/p2p/${id}`)
}
