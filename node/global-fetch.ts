// Fetching a global adapter by hash from whoever holds it, verified (sha256 by the transport, then the
// layout by decodeAdapter) before anyone uses it.
import { peerIdFromString } from '@libp2p/peer-id'
import { RejectReason } from '../protocol/reject-reason.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { decodeAdapter } from './adapter-codec.ts'
import { retryableTransfer, tryLimitMs, withRetries } from './transfer.ts'
import type { FetchOptions } from './types.ts'
import { shuffle } from './shuffle.ts'
import type { PeerContext } from './peer-context.ts'

/** the adapter, and whether its source needed a dial (no connection to it was open when we asked) */
export interface FetchedGlobal { readonly bytes: Uint8Array, readonly adapter: Adapter, readonly dialled?: boolean }

/** a source of an adapter, how many tries it gets, and the first try's number (each try's limit doubles) */
export interface FetchSource { readonly peer: string, readonly tries: number, readonly firstTry?: number }

/**
 * Whom to ask for an adapter, in order: members whose Hello says they hold it that we are connected to, then the
 * sources `from` we are connected to, then the other holders, then the other sources (each group in random order
 * but `from`'s, which the caller shuffled). A new connection costs a handshake (three X25519 agreements and a
 * signature at each end), identify, and gossipsub's and kad-dht's streams on it: after each round every member
 * fetches the new global, and at 100 peers in one process those dials were most of the adoption burst (a dial took
 * 4.6 s at the median, docs/performance.md). About half the members are already connected to one of the ~4
 * sources (the aggregator and the witnesses that agreed). A Hello's claim to hold it is anyone's word, so a
 * connected holder gets one try, not three: a liar connected to us that claims every new global and stalls costs
 * us one try's limit, not three before the next source. Every source is asked once in that order before any is
 * asked again: the further tries of those that get more come after; `last` are asked after all the others. Pure but
 * for the shuffle.
 */
export function fetchOrder (holders: readonly string[], from: readonly string[], self: string,
  connected: (peer: string) => boolean, tries = FETCH_TRIES, last: readonly string[] = []): FetchSource[] {
  const others = holders.filter((p) => !from.includes(p) && p !== self)
  const given = [...new Set(from)].filter((p) => p !== self)
  const near = shuffle(others.filter(connected)).map((peer) => ({ peer, tries: 1 }))
  const far = shuffle(others.filter((p) => !connected(p))).map((peer) => ({ peer, tries: FETCH_TRIES }))
  const [givenNear, givenFar] = [given.filter(connected), given.filter((p) => !connected(p))]
    .map((g) => g.map((peer) => ({ peer, tries })))
  // `last`: sources that have just failed us (an aggregator whose early fetch timed out), asked after every other
  const all = [...near, ...givenNear!, ...far, ...givenFar!]
  const order = [...all.filter((s) => !last.includes(s.peer)), ...all.filter((s) => last.includes(s.peer))]
  // one try of each source first, then the further tries: an aggregator that holds our request open and says
  // nothing (it stalls its own global, which its witnesses also serve) cost three tries' limits, doubling, before
  // the next source (test/node/early-fetch-stall.test.ts)
  return [...order.map((s) => ({ peer: s.peer, tries: 1 })),
    ...order.filter((s) => s.tries > 1).map((s) => ({ peer: s.peer, tries: s.tries - 1, firstTry: 1 }))]
}

/** a connection to `peer` is open now (asking it costs a stream, not a dial) */
export function connectedTo (ctx: PeerContext): (peer: string) => boolean {
  return (p) => ctx.libp2p.getConnections(peerIdFromString(p)).some((c) => c.status === 'open')
}

/** tries of a source before the next one (each try's limit doubles: transfer.ts tryLimitMs) */
export const FETCH_TRIES = 3

/**
 * Fetches and verifies a global adapter from the first source that has it: members whose Hello says they
 * hold it (fetchOrder) before `from` (the aggregator that made it), so the members of a job do not
 * all fetch a new adapter from one peer at once; the hash check makes any holder as good as another.
 * `tries`: of each source in `from`.
 */
export async function fetchGlobal (
  ctx: PeerContext, hash: string, from: readonly string[], tries = FETCH_TRIES, last: readonly string[] = []
): Promise<FetchedGlobal | undefined> {
  const holders = ctx.view?.holdersOf(hash, Date.now()) ?? []
  const connected = connectedTo(ctx)
  const sources = fetchOrder(holders, from, ctx.peerId, connected, tries, last)
  // a global adapter has the job's layout, so its size is known: tries sized to it, then the next source
  const opts = (i: number): FetchOptions => ({ jobId: ctx.opts.jobId, maxBytes: ctx.maxAdapterBytes,
    timeoutMs: tryLimitMs(ctx.layout.byteLength, i, ctx.timing.transferTimeoutMs) })
  /** sources that refused or sent bytes that are not the adapter: not asked again in the second pass */
  const refused = new Set<string>()
  for (const { peer: p, tries, firstTry = 0 } of sources) {
    if (refused.has(p)) continue
    try {
      const peer = peerIdFromString(p)
      const dialled = !connected(p)
      const bytes = await withRetries(tries, async (i) =>
        await ctx.transport.fetchAdapter(ctx.libp2p, peer, hash, opts(firstTry + i)))
      const d = decodeAdapter(bytes, ctx.layout, ctx.maxAdapterBytes)
      if (d.ok) return { bytes, adapter: d.adapter, dialled }
      refused.add(p)
      ctx.reject(p, d.reason, 'adapter')
    } catch (err) {
      if (ctx.stopped) return undefined
      if (!retryableTransfer(err)) refused.add(p)
      ctx.log(`fetch of ${hash.slice(0, 12)} from ${p.slice(-6)} failed: ${(err as Error).message}`)
      ctx.reject(p, (err as { reason?: string }).reason ?? RejectReason.StreamError, 'adapter')
    }
  }
  return undefined
}
