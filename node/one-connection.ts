// At most one direct connection per pair of peers. libp2p dials without asking whether the other side is dialling
// us at the same moment, and kad-dht's routing table pings each new contact as soon as a query response names it:
// two peers that learn of each other from the same response ping each other at once, and each ping's dial finds
// no connection yet. Traced in a 25-peer job (scratch run, connection:open per peer with the dialler's stack):
// 23 of ~160 pairs held two connections, one inbound and one outbound on each side, nearly all opened by those
// pings. Both stay open for good, each with its own yamux keep-alive, gossipsub streams and noise session.
//
// The fix is in the connection gater, when an inbound connection has been encrypted and its remote is known, before
// any stream runs on it (closing a duplicate later would cut gossipsub's streams, which it does not reopen): the
// peer with the smaller id refuses an inbound connection from a peer it is dialling or holds an outbound connection
// to; the larger id never refuses. Only one side ever refuses, so a pair never loses both: a rule on each side
// ("refuse when a connection is open already") did lose both, as a dialler counts its connection open before the
// other side has checked it (the muxer is selected optimistically). Relayed connections and peers we hold one to are
// left alone (DCUtR dials both ways on purpose while the relayed connection stands, and a direct connection must be
// free to replace it). A dial refused this way fails at its dialler, which is then dialled by the other side.
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** what a gater knows about one remote peer when its inbound connection asks to be admitted */
export interface PairState {
  /** the inbound connection comes through a relay */
  readonly inboundRelayed: boolean
  /** we hold an open direct, unlimited connection to the peer that we dialled */
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

/** The state of the pair (self, remote) as `host` sees it now. */
export function pairState (host: Libp2p, remote: PeerId, inboundAddr: Multiaddr): PairState {
  const open = host.getConnections(remote).filter((c) => c.status === 'open')
  return {
    inboundRelayed: isCircuit(inboundAddr),
    dialled: open.some((c) => c.direction === 'outbound' && c.limits === undefined && !isCircuit(c.remoteAddr)),
    relayed: open.some((c) => c.limits !== undefined || isCircuit(c.remoteAddr)),
    // a dial to relay addresses only does not compete with a direct inbound connection
    dialling: host.getDialQueue().some((d) => d.peerId?.equals(remote) === true &&
      (d.status === 'queued' || d.status === 'active') && !(d.multiaddrs.length > 0 && d.multiaddrs.every(isCircuit)))
  }
}
