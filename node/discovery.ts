// Job discovery over the fedit DHT: every member provides a CID derived from the job id and looks up the
// other providers, then dials them so gossipsub can mesh the job's topic.
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { FeditHost } from './host.ts'

const DIAL_TIMEOUT_MS = 5000

export async function jobCid (jobId: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`/fedit/job/${jobId}`)))
}

export interface DiscoveryOptions {
  readonly jobId: string
  /** between rounds of provide + findProviders; the first ones come faster */
  readonly intervalMs: number
  /** while a round finds no one new, the wait doubles up to this (default 6 x intervalMs) */
  readonly maxIntervalMs?: number
  readonly signal: AbortSignal
  readonly onError?: (err: Error) => void
}

/** Runs until the signal aborts. */
export async function runDiscovery (host: FeditHost, opts: DiscoveryOptions): Promise<void> {
  const cid = await jobCid(opts.jobId)
  const self = host.peerId.toString()
  // a newcomer finds the members and dials them itself, so members already meshed need not walk the DHT
  // often: each walk is a burst of DHT messages and peer-store writes (with 20 peers in one process, a
  // fixed 2 s interval kept the event loop busy and slowed every round message)
  const maxInterval = opts.maxIntervalMs ?? opts.intervalMs * 6
  let interval = Math.min(500, opts.intervalMs)
  while (!opts.signal.aborted) {
    let found = 0
    try {
      const q = AbortSignal.any([opts.signal, AbortSignal.timeout(Math.max(5000, opts.intervalMs))])
      await host.contentRouting.provide(cid, { signal: q })
      for await (const p of host.contentRouting.findProviders(cid, { signal: q })) {
        if (p.id.toString() === self || host.getConnections(p.id).length > 0) continue
        if (p.multiaddrs.length > 0) await host.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch(() => {})
        // a signal of its own per dial: every pending dial queues peer-store writes that listen on its signal,
        // and a dozen dials to members who left (no answer until the timeout) on one shared signal exceeded
        // its 10 listeners (MaxListenersExceededWarning on joining a job with a history)
        host.dial(p.id, { signal: AbortSignal.any([opts.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })
          .catch(() => {})
        found++
      }
    } catch (err) {
      if (!opts.signal.aborted) opts.onError?.(err as Error)
    }
    await sleep(interval, opts.signal)
    interval = found > 0 ? Math.min(opts.intervalMs, interval * 2) : Math.min(maxInterval, interval * 2)
  }
}

function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
  })
}
