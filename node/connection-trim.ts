// A bounded connection set for a member. Nothing in libp2p closes a connection a peer no longer needs: its pruner
// acts only past maxConnections (300) and even then spares every connection that carries a protocol stream, which
// gossipsub opens on all of them; kad-dht lookups and transfers open connections that then stay for good. In a job of
// N members each peer ended up connected to most of the others (49.6 of 50 in bench scale), and an idle peer's cost
// grows with its connections: gossipsub sends its own messages to every connected subscriber and each of those
// forwards to its mesh, so every message arrived ~N times; yamux keep-alives, identify and kad-dht pings per
// connection. A member needs its gossipsub mesh (D = 4, at most 6), a few spares to graft from when a mesh peer
// leaves, and the peers it is exchanging adapters with; transfers dial the aggregator and the trainers when a round
// needs them (transfer-path.ts).
//
// A connection is closed only by the end that dialled it. When both ends trimmed, a member that joined late lost every
// connection it had dialled to the older members (each over its cap, none with the newcomer in its mesh) and sat
// alone until its next discovery walk, minutes on a busy loop: 2 of 100 peers alone at the end of bench scale. Now
// what a member dials stays until it closes it itself; the connections others dialled to it are theirs to close
// (a kad-dht ping or a transfer's, after their grace), and those discovery dialled to it number ~8 on average (a few
// dozen on the job's first members, as every newcomer draws from the providers it finds).
//
// Every `intervalMs` a member over `max` connected peers closes the excess among the connections it dialled, never
// one that is
//   - in its gossipsub mesh for the job's topic (mesh links are grafted at both ends, so neither end cuts them),
//   - tagged keep-alive (a relay holding our reservation; host.ts has kad-dht tag none of its closest peers),
//   - named by `spared` (the round's aggregator, trainers and witnesses),
//   - opened less than `graceMs` ago (a DHT lookup or a transfer about to start on it, a graft not yet made),
//   - carrying a stream other than gossipsub, identify or ping (a transfer, a kad-dht query, a chain sync);
// and among the rest peers outside the job's topic go first.
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { KEEP_ALIVE } from '@libp2p/interface'
import { shuffle } from './shuffle.ts'

/** connected peers a member keeps at most: discovery's 8 members (gossipsub's mesh and spares) and as many more */
export const MAX_CONNECTED_PEERS = 16
/** a new connection is left alone this long */
export const TRIM_GRACE_MS = 60_000
/** between trims */
export const TRIM_INTERVAL_MS = 10_000

/** protocols that every connection carries whether or not it is used: a stream of these does not make it busy */
const IDLE_PROTOCOLS = /^\/(meshsub|floodsub)\/|^\/ipfs\/(id|ping)\//

/** what the trim needs to know of one connected peer (all its connections together) */
export interface LinkFacts {
  readonly peer: string
  /** when its newest open connection opened */
  readonly openedAt: number
  /** a stream other than gossipsub, identify or ping is open (or still negotiating) on one of its connections */
  readonly busy: boolean
  /** subscribed to the job's topic */
  readonly member: boolean
  /** in the mesh, tagged keep-alive, or named by the caller */
  readonly spared: boolean
  /** every open connection to it is one we dialled */
  readonly dialled: boolean
}

/**
 * The peers to disconnect so that at most `max` stay connected, closing only those we dialled that are neither spared,
 * busy nor younger than `graceMs`: outsiders of the job first, then members, each group in `order` (random by
 * default). Pure.
 */
export function peersToClose (links: readonly LinkFacts[], max: number, now: number, graceMs: number,
  order: <T>(xs: T[]) => T[] = shuffle): string[] {
  const excess = links.length - max
  if (excess <= 0) return []
  const closable = links.filter((l) => l.dialled && !l.spared && !l.busy && now - l.openedAt >= graceMs)
  const outsiders = order(closable.filter((l) => !l.member))
  const members = order(closable.filter((l) => l.member))
  return [...outsiders, ...members].slice(0, excess).map((l) => l.peer)
}

export interface TrimOptions {
  /** the job's gossipsub topic */
  readonly topic: string
  readonly max?: number
  readonly graceMs?: number
  readonly intervalMs?: number
  /** peers the round needs now (its aggregator, trainers, witnesses) */
  readonly spared: () => Iterable<string>
  readonly signal: AbortSignal
}

interface TrimHost extends Libp2p {
  services: { pubsub: { getSubscribers: (topic: string) => PeerId[] } }
}

/** gossipsub's mesh for `topic`: the class has getMeshPeers, its exported interface does not say so */
function meshOf (host: TrimHost, topic: string): Set<string> {
  const pubsub = host.services.pubsub as { getMeshPeers?: (topic: string) => string[] }
  return new Set(pubsub.getMeshPeers?.(topic) ?? [])
}

/** Trims until the signal aborts; `closed` counts the peers it disconnected. */
export function trimConnections (host: TrimHost, opts: TrimOptions): { readonly closed: () => number } {
  const max = opts.max ?? MAX_CONNECTED_PEERS
  const graceMs = opts.graceMs ?? TRIM_GRACE_MS
  const every = opts.intervalMs ?? TRIM_INTERVAL_MS
  let closed = 0
  let timer: NodeJS.Timeout | undefined
  let running = false
  const next = (): void => {
    // jittered, so peers started together do not trim (and redial) in step
    timer = setTimeout(() => { void pass() }, every * (0.5 + Math.random()))
  }
  const pass = async (): Promise<void> => {
    if (opts.signal.aborted || running) return
    running = true
    try {
      closed += await trimOnce(host, opts.topic, max, graceMs, new Set(opts.spared()), opts.signal)
    } catch {
      // a peer store read or a close failed: the next pass looks again
    } finally {
      running = false
      if (!opts.signal.aborted) next()
    }
  }
  next()
  opts.signal.addEventListener('abort', () => { clearTimeout(timer) }, { once: true })
  return { closed: () => closed }
}

async function trimOnce (host: TrimHost, topic: string, max: number, graceMs: number, spared: Set<string>,
  signal: AbortSignal): Promise<number> {
  const byPeer = new Map<string, Connection[]>()
  for (const c of host.getConnections()) {
    if (c.status !== 'open') continue
    const k = c.remotePeer.toString()
    byPeer.set(k, [...(byPeer.get(k) ?? []), c])
  }
  if (byPeer.size <= max) return 0
  const mesh = meshOf(host, topic)
  const members = new Set(host.services.pubsub.getSubscribers(topic).map(String))
  const links: LinkFacts[] = []
  for (const [peer, conns] of byPeer) {
    const dialled = conns.every((c) => c.direction === 'outbound')
    // a peer store read per peer we could close (a member with many inbound connections is over its cap each pass)
    const held = spared.has(peer) || mesh.has(peer) || (dialled && await keptAlive(host, conns[0]!.remotePeer))
    links.push({
      peer,
      openedAt: Math.max(...conns.map((c) => c.timeline.open)),
      busy: conns.some((c) => c.streams.some((s) => s.protocol === undefined || s.protocol === '' ||
        !IDLE_PROTOCOLS.test(s.protocol))),
      member: members.has(peer),
      spared: held,
      dialled
    })
  }
  const close = peersToClose(links, max, Date.now(), graceMs)
  if (signal.aborted) return 0
  await Promise.all(close.map(async (peer) => {
    const conns = byPeer.get(peer)!
    await host.hangUp(conns[0]!.remotePeer, { signal: AbortSignal.timeout(5000) }).catch(() => {})
  }))
  return close.length
}

async function keptAlive (host: Libp2p, peer: PeerId): Promise<boolean> {
  try {
    const p = await host.peerStore.get(peer)
    return [...p.tags.keys()].some((t) => t.startsWith(KEEP_ALIVE))
  } catch {
    return false
  }
}
