// This peer's reachability, as its Hellos announce it (protocol/election.ts Reachability), and the log of
// the paths its adapters took. libp2p advertises (getMultiaddrs) only addresses that work: a public address
// once AutoNAT confirmed it (others dialled it back), private ones for a LAN, and /p2p-circuit addresses once a
// relay granted a reservation. The kind follows from them; it is logged when it changes.
import { isPrivate } from '@libp2p/utils'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { Reachability } from '../protocol/election.ts'
import { onTransferPath } from './transfer-path.ts'
import type { PathKind, TransferPath } from './transfer-path.ts'

/** The reachability that a set of advertised addresses shows (pure). */
export function reachabilityOf (addrs: readonly Multiaddr[]): number {
  const circuit = (a: Multiaddr): boolean => a.toString().includes('/p2p-circuit')
  const publicIp = (a: Multiaddr): boolean => !circuit(a) && !isPrivate(a) && /^\/(ip4|ip6|dns)/.test(a.toString())
  if (addrs.some(publicIp)) return Reachability.Public
  if (addrs.some(circuit)) return Reachability.Relayed
  return Reachability.Unreachable
}

export function describeReachability (code: number): string {
  switch (code) {
    case Reachability.Public: return 'public (a confirmed address others can dial)'
    case Reachability.Relayed: return 'through a relay only (no confirmed public address; reached via /p2p-circuit)'
    case Reachability.Unreachable: return 'not reachable yet (no confirmed public address, no relay reservation)'
    default: return 'unsaid'
  }
}

/** one word for status lines and the dashboard's member list */
export function reachabilityWord (code: number): MemberReachability {
  switch (code) {
    case Reachability.Public: return 'public'
    case Reachability.Relayed: return 'relayed'
    case Reachability.Unreachable: return 'unreachable'
    default: return 'unsaid'
  }
}

export type MemberReachability = 'public' | 'relayed' | 'unreachable' | 'unsaid'

export interface PathCounts { direct: number, relayed: number, directBytes: number, relayedBytes: number }

/** Watches one host: its reachability (logged on change) and the paths of its adapter transfers (counted, logged). */
export class ReachabilityMonitor {
  private code: number
  readonly paths: PathCounts = { direct: 0, relayed: 0, directBytes: 0, relayedBytes: 0 }
  private readonly update = (): void => { this.refresh() }

  /** `measured`: false where nothing is measured (many peers on one machine): the Hello says nothing */
  constructor (
    private readonly host: Libp2p,
    private readonly measured: boolean,
    private readonly log: (line: string) => void
  ) {
    this.code = Reachability.Unsaid
    host.addEventListener('self:peer:update', this.update)
    onTransferPath(host, (p) => { this.notePath(p) })
    this.refresh()
  }

  /** what the next Hello says */
  get current (): number { return this.code }

  stop (): void {
    this.host.removeEventListener('self:peer:update', this.update)
  }

  private refresh (): void {
    if (!this.measured) return
    const code = reachabilityOf(this.host.getMultiaddrs())
    if (code === this.code) return
    this.code = code
    const addrs = this.host.getMultiaddrs().map(String)
      .filter((a) => code !== Reachability.Relayed || a.includes('/p2p-circuit'))
    this.log(`reachability: ${describeReachability(code)}${addrs.length > 0 ? `; advertising ${addrs.join(' ')}` : ''}`)
  }

  private notePath (p: TransferPath): void {
    const kind: PathKind = p.kind
    this.paths[kind]++
    this.paths[kind === 'direct' ? 'directBytes' : 'relayedBytes'] += p.bytes
    if (!this.measured) return
    this.log(`transfer: ${p.what} ${p.peer.slice(-6)} ${kind} (${p.why})`)
  }
}
