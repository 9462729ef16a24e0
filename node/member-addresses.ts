// Where each member listens, as its own signed Hello says, told to libp2p's peer store. A member dials the round's
// aggregator, a holder of the new global or a member ahead of it without ever having connected to it: with no
// address in the peer store, libp2p asked kad-dht to find the peer, a lookup that dialled several peers on the way
// (most of the connections opened while a 100-peer job's rounds ran, a noise handshake each; bench scale). A Hello
// is signed by its author, so only the member itself says where it listens; a false address costs a failed dial
// of that member (the handshake checks its peer id), at an address of the liar's choosing (DESIGN.md).
import type { PeerId, PeerStore } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { multiaddr } from '@multiformats/multiaddr'
import { equals } from 'uint8arrays/equals'
import { MAX_HELLO_ADDRS, MAX_MEMBERS } from '../protocol/limits.ts'

/** members whose addresses are remembered (a few job sizes; identities cost a proof of work, yet are many) */
const KEPT = 4 * MAX_MEMBERS

/** our own listen addresses as a Hello carries them: without our /p2p/ id (the Hello's author), the first few */
export function ownAddrs (listening: readonly Multiaddr[], self: PeerId): Array<Uint8Array<ArrayBuffer>> {
  const id = `/p2p/${self.toString()}`
  return listening.slice(0, MAX_HELLO_ADDRS).map((a) => {
    const s = a.toString()
    return Uint8Array.from((s.endsWith(id) ? multiaddr(s.slice(0, -id.length)) : a).bytes)
  })
}

export class MemberAddresses {
  /** member -> the addresses its last Hello carried, as last told to the peer store */
  private readonly told = new Map<string, readonly Uint8Array[]>()

  constructor (private readonly peerStore: Pick<PeerStore, 'merge'>, private readonly log: (msg: string) => void) {}

  /**
   * A checked Hello of `peer` (protocol/validation.ts bounds its addresses) carried `addrs`: merged into the peer
   * store when they changed since its last Hello (a peer-store write for every Hello of every member is not free).
   */
  heard (peer: PeerId, addrs: readonly Uint8Array[]): void {
    const key = peer.toString()
    if (addrs.length === 0 || sameAddrs(this.told.get(key), addrs)) return
    this.told.delete(key) // re-inserted last: the oldest go first past the bound
    this.told.set(key, addrs)
    if (this.told.size > KEPT) this.told.delete(this.told.keys().next().value!)
    let multiaddrs: Multiaddr[]
    try { multiaddrs = addrs.map((a) => multiaddr(a)) } catch { return } // validated already; never throws here
    this.peerStore.merge(peer, { multiaddrs }).catch((e: Error) => { this.log(`addresses of ${key}: ${e.message}`) })
  }
}

function sameAddrs (a: readonly Uint8Array[] | undefined, b: readonly Uint8Array[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => equals(x, b[i]!))
}
