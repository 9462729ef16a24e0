// At most one direct connection per pair of peers. libp2p dials without asking whether the other side is dialling
// us at the same moment, and kad-dht's routing table pings each new contact as soon as a query response names it:
// two peers that learn of each other from the same response ping each other at once, and each ping's dial finds
// no connection yet. Traced in a 25-peer job (scratch run, connection:open per peer with the dialler's stack):
// 23 of ~160 pairs held two connections, one inbound and one outbound on each side, nearly all opened by those
// pings. Both stay open for good, each with its own yamux keep-alive, gossipsub streams and noise session.
//
// The fix is in the connection gater, when an inbound connection has been encrypted and its remote is known, before
// any stream runs on it (closing a duplicate later would cut gossipsub's streams, which it does not reopen): the
// peer with the smaller id refuses an inbound connection from a peer it is dialling, or whose connection it dialled
// is not yet confirmed by that peer (no identify answer on it yet: a dialler counts its connection open before the
// other side has checked it, as the muxer is selected optimistically). The larger id never refuses, so a pair never
// loses both (a rule on each side, "refuse when a connection is open already", lost both in a test of simultaneous
// dials). A connection both sides confirmed is never competed with: a second dial then is deliberate (AutoNAT's
// dial-back to check an address forces a new connection; refusing it kept a public peer from being confirmed).
// The larger id also drops its own dial when, by the time that dial is encrypted, the smaller's unconfirmed
// connection has opened at its end (its dial was queued or sent before that connection arrived): every rule drops
// only the larger id's dial. Relayed connections and peers we hold one to are left alone (DCUtR dials both ways
// on purpose while the relayed connection stands). A dial refused this way fails at its dialler, which is then
// dialled by the other side.
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** what a gater knows about one remote peer when its inbound connection asks to be admitted */
export interface PairState {
  /** the inbound connection comes through a relay */
  readonly inboundRelayed: boolean
  /** we hold an open direct connection to the peer that we dialled and the peer has not confirmed yet */
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

/** an unconfirmed connection older than this is not racing anyone (its peer never answered identify) */
const RACE_MS = 30_000

/** The gater's view of a host: which of its outbound connections the other side has confirmed. */
export class PairGate {
  private host?: Libp2p
  private readonly confirmed = new WeakSet<Connection>()

  attach (host: Libp2p): void {
    this.host = host
    // the peer answered identify on the connection: it holds the connection open at its end too
    host.addEventListener('peer:identify', (e) => { this.confirmed.add(e.detail.connection) })
  }

  /** whether an inbound connection from `remote` (encrypted, not yet upgraded) is refused as a duplicate */
  refuses (remote: PeerId, inboundAddr: Multiaddr): boolean {
    const host = this.host
    if (host === undefined) return false
    return duplicateInbound(host.peerId.toString(), remote.toString(), this.pairState(host, remote, inboundAddr))
  }

  /**
   * whether our own dial to `remote` (encrypted, not yet upgraded) is dropped: the larger id gives way to the
   * smaller's connection that opened at our end while our dial was on its way (it was queued or sent before)
   */
  abandons (remote: PeerId, addr: Multiaddr): boolean {
    const host = this.host
    if (host === undefined || isCircuit(addr) || host.peerId.toString() < remote.toString()) return false
    const now = Date.now()
    return host.getConnections(remote).some((c) => c.status === 'open' && c.direction === 'inbound' &&
      c.limits === undefined && !isCircuit(c.remoteAddr) && !this.confirmed.has(c) && now - c.timeline.open < RACE_MS)
  }

  private pairState (host: Libp2p, remote: PeerId, inboundAddr: Multiaddr): PairState {
    const open = host.getConnections(remote).filter((c) => c.status === 'open')
    const now = Date.now()
    return {
      inboundRelayed: isCircuit(inboundAddr),
      dialled: open.some((c) => c.direction === 'outbound' && c.limits === undefined && !isCircuit(c.remoteAddr) &&
        !this.confirmed.has(c) && now - c.timeline.open < RACE_MS),
      relayed: open.some((c) => c.limits !== undefined || isCircuit(c.remoteAddr)),
      // a dial to relay addresses only does not compete with a direct inbound connection
      dialling: host.getDialQueue().some((d) => d.peerId?.equals(remote) === true &&
        (d.status === 'queued' || d.status === 'active') && !(d.multiaddrs.length > 0 && d.multiaddrs.every(isCircuit)))
    }
  }
}
