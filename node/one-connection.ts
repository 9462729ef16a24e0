// At most one direct connection per pair of peers. libp2p dials without asking whether the other side is dialling
// us at the same moment, and kad-dht's routing table pings each new contact as soon as a query response names it:
// two peers that learn of each other from the same response ping each other at once, and each ping's dial finds
// no connection yet. Traced in a 25-peer job (scratch run, connection:open per peer with the dialler's stack):
// 23 of ~160 pairs held two connections, one inbound and one outbound on each side, nearly all opened by those
// pings. Both stay open for good, each with its own yamux keep-alive, gossipsub streams and noise session.
//
// The fix is in the connection gater, when a connection has been encrypted and its remote is known, before any
// stream runs on it (closing a duplicate later would cut gossipsub's streams, which it does not reopen). Every rule
// drops only the larger peer id's dial, so a pair never loses both: the smaller id refuses an inbound connection
// from a peer it is dialling or has dialled in the last RACE_MS, and the larger id abandons its own dial when the
// smaller's connection opened at its end meanwhile (its dial was queued or sent before). A rule on each side,
// "refuse when a connection is open already", lost both in a test of simultaneous dials: a dialler counts its
// connection open before the other side has checked it (the muxer is selected optimistically). AutoNAT's dial-back
// opens a second connection on purpose, which these rules refuse: host.ts turns the gate on only where AutoNAT is
// off (local runs, tests, the simulation). Relayed connections and peers we hold one to are left alone (DCUtR dials
// both ways on purpose while the relayed connection stands).
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** what a gater knows about one remote peer when its inbound connection asks to be admitted */
export interface PairState {
  /** the inbound connection comes through a relay */
  readonly inboundRelayed: boolean
  /** we hold an open direct connection to the peer that we dialled, opened within RACE_MS */
  readonly dialled: boolean
  /** we hold a relayed (limited) connection to the peer */
  readonly relayed: boolean
  /** a dial of ours to the peer is queued or running */
  readonly dialling: boolean
}

/** Whether an inbound connection from `remote` is refused as a duplicate of one we made or are making (pure). */
export function duplicateInbound (self: string, remote: string, s: PairState): boolean {
  if (s.inboundRelayed || s.relayed) return false
  return (s.dialled || s.dialling) && self < remote
}

const isCircuit = (a: Multiaddr): boolean => a.toString().includes('/p2p-circuit')

/** a connection older than this is not racing anyone: a later second dial is deliberate or a redial */
const RACE_MS = 30_000

/** The gater's view of a host's connections and pending dials. */
export class PairGate {
  private host?: Libp2p

  attach (host: Libp2p): void {
    this.host = host
  }

  /** whether an inbound connection from `remote` (encrypted, not yet upgraded) is refused as a duplicate */
  refuses (remote: PeerId, inboundAddr: Multiaddr): boolean {
    const host = this.host
    if (host === undefined) return false
    return duplicateInbound(host.peerId.toString(), remote.toString(), this.pairState(host, remote, inboundAddr))
  }

  /**
   * whether our own dial to `remote` (encrypted, not yet upgraded) is dropped: the larger id gives way to the
   * smaller's recent connection that opened at our end while our dial was on its way (queued or sent before)
   */
  abandons (remote: PeerId, addr: Multiaddr): boolean {
    const host = this.host
    if (host === undefined || isCircuit(addr) || host.peerId.toString() < remote.toString()) return false
    const now = Date.now()
    return host.getConnections(remote).some((c) => c.status === 'open' && c.direction === 'inbound' &&
      c.limits === undefined && !isCircuit(c.remoteAddr) && now - c.timeline.open < RACE_MS)
  }

  private pairState (host: Libp2p, remote: PeerId, inboundAddr: Multiaddr): PairState {
    const open = host.getConnections(remote).filter((c) => c.status === 'open')
    const now = Date.now()
    return {
      inboundRelayed: isCircuit(inboundAddr),
      dialled: open.some((c) => c.direction === 'outbound' && c.limits === undefined && !isCircuit(c.remoteAddr) &&
        now - c.timeline.open < RACE_MS),
      relayed: open.some((c) => c.limits !== undefined || isCircuit(c.remoteAddr)),
      // a dial to relay addresses only does not compete with a direct inbound connection
      dialling: host.getDialQueue().some((d) => d.peerId?.equals(remote) === true &&
        (d.status === 'queued' || d.status === 'active') && !(d.multiaddrs.length > 0 && d.multiaddrs.every(isCircuit)))
    }
  }
}
