// The aggregator's ping of a selected trainer (trainer-probe.ts), over whichever connection the pair holds.
import { peerIdFromString } from '@libp2p/peer-id'
import type { FeditHost } from './host.ts'

/**
 * Pings `peer`, once more if our dial gave way to its own: the trainer dials us to push its update, and when the two
 * dials cross, the larger id's is dropped (one-connection.ts) and its ping fails though the pair is connected.
 * Counted as a failed probe, that made live trainers look gone in a 100-peer job (bench scale-threads).
 */
export async function probePing (host: FeditHost, peer: string, signal: AbortSignal): Promise<number> {
  const id = peerIdFromString(peer)
  try {
    return await host.services.ping.ping(id, { signal })
  } catch (err) {
    if (signal.aborted || host.getConnections(id).length === 0) throw err
    return await host.services.ping.ping(id, { signal })
  }
}
