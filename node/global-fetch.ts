// Fetching a global adapter by hash from whoever holds it, verified (sha256 by the transport, then the
// layout by decodeAdapter) before anyone uses it.
import { peerIdFromString } from '@libp2p/peer-id'
import { RejectReason } from '../protocol/reject-reason.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { decodeAdapter } from './adapter-codec.ts'
import { tryLimitMs, withRetries } from './transfer.ts'
import type { FetchOptions } from './types.ts'
import { shuffle } from './shuffle.ts'
import type { PeerContext } from './peer-context.ts'

interface FetchedGlobal { readonly bytes: Uint8Array, readonly adapter: Adapter }

/** a source of an adapter, and how many tries it gets */
export interface FetchSource { readonly peer: string, readonly tries: number }

/**
 * Whom to ask for an adapter, in order: members whose Hello says they hold it, those we are connected to first (each
 * group in random order), then `from`. A new connection costs a handshake (three X25519 agreements and a signature
 * at each end): noise handshakes were ~10 % of a 100-peer process's time in its rounds (bench scale's profile),
 * and after each round every member fetches the new global. A Hello's claim to hold it is anyone's word, so a
 * connected holder gets one try, not three: a liar connected to us that claims every new global and stalls costs
 * us one try's limit, not three before the next source. Pure but for the shuffle.
 */
export function fetchOrder (holders: readonly string[], from: readonly string[], self: string,
  connected: (peer: string) => boolean): FetchSource[] {
  const others = holders.filter((p) => !from.includes(p) && p !== self)
  const near = shuffle(others.filter(connected)).map((peer) => ({ peer, tries: 1 }))
  const far = shuffle(others.filter((p) => !connected(p))).map((peer) => ({ peer, tries: FETCH_TRIES }))
  const given = [...new Set(from)].filter((p) => p !== self).map((peer) => ({ peer, tries: FETCH_TRIES }))
  return [...near, ...far, ...given]
}

/** tries of a source before the next one (each try's limit doubles: transfer.ts tryLimitMs) */
const FETCH_TRIES = 3

/**
 * Fetches and verifies a global adapter from the first source that has it: members whose Hello says they
 * hold it (fetchOrder) before `from` (the aggregator that made it), so the members of a job do not
 * all fetch a new adapter from one peer at once; the hash check makes any holder as good as another.
 */
export async function fetchGlobal (
  ctx: PeerContext, hash: string, from: readonly string[]
): Promise<FetchedGlobal | undefined> {
  const holders = ctx.view?.holdersOf(hash, Date.now()) ?? []
  const sources = fetchOrder(holders, from, ctx.peerId,
    (p) => ctx.libp2p.getConnections(peerIdFromString(p)).some((c) => c.status === 'open'))
  // a global adapter has the job's layout, so its size is known: tries sized to it, then the next source
  const opts = (i: number): FetchOptions => ({ jobId: ctx.opts.jobId, maxBytes: ctx.maxAdapterBytes,
    timeoutMs: tryLimitMs(ctx.layout.byteLength, i, ctx.timing.transferTimeoutMs) })
  for (const { peer: p, tries } of sources) {
    try {
      const peer = peerIdFromString(p)
      const bytes = await withRetries(tries, async (i) =>
        await ctx.transport.fetchAdapter(ctx.libp2p, peer, hash, opts(i)))
      const d = decodeAdapter(bytes, ctx.layout, ctx.maxAdapterBytes)
      if (d.ok) return { bytes, adapter: d.adapter }
      ctx.reject(p, d.reason, 'adapter')
    } catch (err) {
      if (ctx.stopped) return undefined
      ctx.log(`fetch of ${hash.slice(0, 12)} from ${p.slice(-6)} failed: ${(err as Error).message}`)
      ctx.reject(p, (err as { reason?: string }).reason ?? RejectReason.StreamError, 'adapter')
    }
  }
  return undefined
}
