// The I/O side of peer-notes.ts for `fedit peer`: once a second it looks at the peer (live members, stage,
// bootstrap connection) and logs what PeerNotes says; while no bootstrap is connected it dials them itself
// (every 10 s) to say why: "bootstrap unreachable: ADDR: REASON", once per new reason, and
// "bootstrap reached: ADDR" when one answers again.
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isLoopback, isPrivate } from '@libp2p/utils'
import type { Peer } from './peer.ts'
import { PeerNotes } from './peer-notes.ts'

export interface PeerWatchOptions {
  readonly minPeers: number
  readonly bootstrap: readonly string[]
  readonly local: boolean
  readonly log: (line: string) => void
  readonly tickMs?: number
  readonly redialMs?: number
  readonly noPeersAfterMs?: number
}

/** Starts watching; returns the function that stops it. */
export function watchPeer (peer: Peer, o: PeerWatchOptions): () => void {
  const addrs = o.bootstrap.map((a) => multiaddr(a))
  const looksLocal = (a: Multiaddr): boolean => { try { return isLoopback(a) || isPrivate(a) } catch { return false } }
  const notes = new PeerNotes({ minPeers: o.minPeers, startedAt: Date.now(), local: o.local,
    bootstrapLooksLocal: addrs.some(looksLocal), noPeersAfterMs: o.noPeersAfterMs })
  const ids = addrs.map((a) => a.getComponents().find((c) => c.name === 'p2p')?.value)
  const connected = (): boolean => ids.some((id) => id !== undefined && peer.libp2p.getConnections()
    .some((c) => c.remotePeer.toString() === id))
  const said = new Map<number, string>() // bootstrap index -> last reason logged ('' = reached)
  const stop = new AbortController()
  let lastDial = 0
  let dialing = false

  const dialAll = async (): Promise<void> => {
    dialing = true
    try {
      await Promise.all(addrs.map(async (a, i) => {
        let reason = ''
        try {
          await peer.libp2p.dial(a, { signal: AbortSignal.any([stop.signal, AbortSignal.timeout(5000)]) })
        } catch (err) {
          if (stop.signal.aborted) return
          reason = (err as Error).message.split('\n')[0]!.slice(0, 200)
        }
        const before = said.get(i)
        if (reason !== '' && reason !== before) o.log(`bootstrap unreachable: ${a.toString()}: ${reason}`)
        if (reason === '' && before !== undefined && before !== '') o.log(`bootstrap reached: ${a.toString()}`)
        said.set(i, reason)
      }))
    } finally {
      dialing = false
    }
  }

  const tick = (): void => {
    const now = Date.now()
    const bootstrapConnected = connected()
    if (!bootstrapConnected && !dialing && now - lastDial >= (o.redialMs ?? 10_000)) {
      lastDial = now
      void dialAll()
    }
    for (const line of notes.observe({ now, live: peer.members().length, stage: peer.stage, bootstrapConnected })) {
      o.log(line)
    }
  }
  const timer = setInterval(tick, o.tickMs ?? 1000)
  return () => { stop.abort(); clearInterval(timer) }
}
