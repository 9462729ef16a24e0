// Job discovery over the fedit DHT: every member provides a CID derived from the job id and looks up the
// other providers, then dials some of them so gossipsub can mesh the job's topic. A member needs a handful of
// members connected, not all of them: gossipsub keeps a mesh of D = 4 and relays Hellos and round messages to the
// rest, so discovery dials until `targetMembers` are connected and then only re-provides now and then. Transfers
// dial the aggregator and the trainers directly when a round needs them (transfer-path.ts).
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { FeditHost } from './host.ts'
import { shuffle } from './shuffle.ts'

/**
 * a member or bootstrap that many peers dial at once, or a process of 100 peers, may take long to finish each
 * handshake: at 5 s a member's dials timed out walk after walk in such a process, and it stayed alone (the others,
 * meshed, no longer dial anyone)
 */
const DIAL_TIMEOUT_MS = 20_000
/** gossipsub's mesh (D 4, at most 6) with two to spare, so one member leaving does not leave the mesh short */
export const TARGET_MEMBERS = 8
/** walks that found nobody with an empty routing table before the bootstrap is connected to again */
const EMPTY_WALKS_BEFORE_RECONNECT = 3
/** a lookup or provide may take this many discovery intervals */
const WALK_INTERVALS = 3
/** a lookup stops once it found this many providers per member still to dial, to draw them from */
const PROVIDERS_PER_DIAL = 3
/** provider records live 48 h in kad-dht; re-providing every 5 min replaces the closest peers that left */
const REPROVIDE_MS = 5 * 60_000

export async function jobCid (jobId: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`/fedit/job/${jobId}`)))
}

export interface DiscoveryOptions {
  readonly jobId: string
  /** between rounds of provide + findProviders; the first ones come faster */
  readonly intervalMs: number
  /** while a round finds no one new, or enough members are connected, the wait doubles up to this (6 x intervalMs) */
  readonly maxIntervalMs?: number
  /** members of the job we are connected to (default: none, so every provider found is dialled) */
  readonly connectedMembers?: () => number
  /** stop dialling new members once this many are connected (default TARGET_MEMBERS) */
  readonly targetMembers?: number
  /**
   * bootstrap multiaddrs (with /p2p/<id>), dialled again before a walk while we hold no connection at all:
   * libp2p's bootstrap discovery dials them once, at start, and a peer whose dial failed (its bootstrap not up
   * yet, or too busy to finish the handshake in time) would otherwise walk an empty DHT for good
   */
  readonly bootstrap?: readonly string[]
  readonly signal: AbortSignal
  readonly onError?: (err: Error) => void
}

/** Runs until the signal aborts. */
export async function runDiscovery (host: FeditHost, opts: DiscoveryOptions): Promise<void> {
  const cid = await jobCid(opts.jobId)
  const connected = opts.connectedMembers ?? (() => 0)
  const target = opts.targetMembers ?? TARGET_MEMBERS
  // a newcomer finds the members and dials them itself, so members already meshed need not walk the DHT
  // often: each walk is a burst of DHT messages and peer-store writes (with 20 peers in one process, a
  // fixed 2 s interval kept the event loop busy and slowed every round message)
  const maxInterval = opts.maxIntervalMs ?? opts.intervalMs * 6
  let interval = Math.min(500, opts.intervalMs)
  let nextProvide = 0
  let emptyWalks = 0
  let fruitless = 0
  // a lookup's first hops are dials (handshakes): with 100 peers in one process a 10 s limit cut every lookup and
  // every provide short, walk after walk, and a tenth of the job never found a member (round 1 waited for them)
  const walkMs = Math.max(5000, WALK_INTERVALS * opts.intervalMs)
  const walkSignal = (): AbortSignal => AbortSignal.any([opts.signal, AbortSignal.timeout(walkMs)])
  while (!opts.signal.aborted) {
    let found = 0
    try {
      if ((opts.bootstrap ?? []).length > 0 && host.getConnections().length === 0) {
        await redialBootstrap(host, opts.bootstrap!, opts.signal)
      }
      const need = target - connected()
      // find before we provide, each with a time of its own: a newcomer needs the members more than they need its
      // record, and with 100 peers in one process a provide (a lookup of the 20 closest peers) ran out of time walk
      // after walk, so the lookup never ran and peers that held only the bootstrap stayed alone
      if (need > 0) found = await dialProviders(host, cid, need, walkSignal(), opts.signal, (e) => opts.onError?.(e))
      // connected to no member and the lookup found none to dial: said on the 1st, 2nd, 4th, 8th... such walk in a
      // row, or a peer alone shows nothing at all (one of 100 in bench scale sat with the bootstrap for minutes, its
      // log silent). Not a member of a small job, connected to all the others: it finds no one new, rightly
      fruitless = connected() === 0 && found === 0 ? fruitless + 1 : 0
      if ((fruitless & (fruitless - 1)) === 0 && fruitless > 0) {
        opts.onError?.(new Error(`no job member found to dial (connected to none, ${routingTableSize(host) ?? '?'} ` +
          `peers in the DHT routing table, ${fruitless} walks in a row)`))
      }
      // connected, yet kad-dht never took a peer into its table (its check of a new contact timed out on a busy
      // loop): every lookup finds nothing, for good. A new connection to the bootstrap is checked again; not on the
      // first walks, while a joining peer's table is still filling
      emptyWalks = need > 0 && found === 0 && routingTableSize(host) === 0 ? emptyWalks + 1 : 0
      if (emptyWalks >= EMPTY_WALKS_BEFORE_RECONNECT && (opts.bootstrap ?? []).length > 0) {
        emptyWalks = 0
        opts.onError?.(new Error('the DHT routing table is still empty: connecting to the bootstrap again'))
        await reconnectBootstrap(host, opts.bootstrap!, opts.signal)
      }
      // while the job is short of members the DHT is still forming: provide on each walk so the closest peers
      // to the job's key, which change as peers join, hold our record; then every REPROVIDE_MS from the last. (Once
      // more on the walk after the target was reached, as before, was a provide per member while the first rounds
      // ran: a lookup that dials the ~20 peers closest to the key, which the trim had closed, ~14 handshakes each)
      if (need > 0 || Date.now() >= nextProvide) {
        await host.contentRouting.provide(cid, { signal: walkSignal() })
        nextProvide = Date.now() + REPROVIDE_MS
      }
    } catch (err) {
      if (!opts.signal.aborted) opts.onError?.(err as Error)
    }
    // a random half to one and a half of the interval: peers that started together would otherwise walk (and redial
    // their bootstrap) in step, and a crowd of handshakes at once kept the bootstrap too slow to finish any of them
    await sleep(interval * (0.5 + Math.random()), opts.signal)
    // a walk that found members, or a peer connected to none, comes again within the interval; otherwise the walks
    // back off to maxInterval (a small job's members, short of the target for good, and settled peers). A peer alone
    // used to back off too, to 90 s between lookups on a loop lagging seconds
    const alone = connected() === 0
    interval = found > 0 || alone ? Math.min(opts.intervalMs, interval * 2) : Math.min(maxInterval, interval * 2)
  }
}

/**
 * Looks up the job's providers and dials a random share of those we are not connected to, up to `need`; returns how
 * many it dialled. A lookup that runs out of time still dials what it found (on a busy loop the lookup seldom
 * finishes, and its first answers are the ones that matter); it stops early once it has plenty to choose from.
 */
async function dialProviders (host: FeditHost, cid: CID, need: number, lookup: AbortSignal,
  signal: AbortSignal, onFailed: (err: Error) => void): Promise<number> {
  const self = host.peerId.toString()
  const fresh: Array<{ id: PeerId, multiaddrs: Multiaddr[] }> = []
  let failed: unknown
  try {
    for await (const p of host.contentRouting.findProviders(cid, { signal: lookup })) {
      if (p.id.toString() === self || host.getConnections(p.id).length > 0) continue
      fresh.push(p)
      if (fresh.length >= need * PROVIDERS_PER_DIAL) break
    }
  } catch (err) {
    failed = err
  }
  if (fresh.length === 0 && failed !== undefined) throw failed
  // a random share of them: members who all found the same providers first would otherwise crowd them
  const chosen = shuffle(fresh).slice(0, need)
  for (const p of chosen) {
    if (p.multiaddrs.length > 0) await host.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch(() => {})
  }
  // every dial starts, and is watched, with no await in between: a dial that failed while the loop awaited the
  // next peer-store write (the walk's signal timing out under load) was a rejection no one handled yet, and it
  // ended the process (bench scale, 50 peers: DOMException TimeoutError)
  // a signal of its own per dial: every pending dial queues peer-store writes that listen on its signal, and a
  // dozen dials to members who left (no answer until the timeout) on one shared signal exceeded its 10 listeners
  // (MaxListenersExceededWarning on joining a job with a history)
  const dials = chosen.map(async (p) =>
    await host.dial(p.id, { signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) }))
  // not awaited (the walk goes on), but a walk whose every dial failed says so: a peer alone should know why
  void Promise.allSettled(dials).then((rs) => {
    const failed = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed.length > 0 && failed.length === rs.length && !signal.aborted) {
      onFailed(new Error(`none of ${rs.length} dials to job members succeeded (${failed[0]!.reason?.message})`))
    }
  })
  return chosen.length
}

/** Peers in kad-dht's routing table (undefined: this kad-dht does not say). */
function routingTableSize (host: FeditHost): number | undefined {
  return (host.services.dht as { routingTable?: { size: number } }).routingTable?.size
}

/** Closes our connections to the bootstrap nodes and dials them again. */
async function reconnectBootstrap (host: FeditHost, addrs: readonly string[], signal: AbortSignal): Promise<void> {
  // the id is the last /p2p/ part of a bootstrap address
  const ids = new Set(addrs.map((a) => /\/p2p\/([^/]+)$/.exec(a)?.[1]).filter((id) => id !== undefined))
  await Promise.all(host.getConnections().filter((c) => ids.has(c.remotePeer.toString()))
    .map(async (c) => { await c.close().catch(() => {}) }))
  await redialBootstrap(host, addrs, signal)
}

/** Dials every bootstrap address at once; returns when one answers, else throws one line naming each failure. */
async function redialBootstrap (host: FeditHost, addrs: readonly string[], signal: AbortSignal): Promise<void> {
  const tries = await Promise.allSettled(addrs.map(async (a) => await host.dial(multiaddr(a), {
    signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)])
  })))
  if (tries.some((t) => t.status === 'fulfilled')) return
  const why = tries.map((t, i) => `${addrs[i]}: ${(t as PromiseRejectedResult).reason?.message ?? 'failed'}`)
  throw new Error(`no connection, and no bootstrap answered (${why.join('; ')})`)
}

function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
  })
}
