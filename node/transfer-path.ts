// Which connection an adapter travels on. Adapters (tens of MB) go on a direct connection when there is one;
// through a relay only when the relayed connection still has room for them under the relay's data limit
// (a relay that cuts a transfer short would otherwise leave a truncated stream): past it the transfer is
// refused up front with reason 'relay_limit', never cut. Each transfer reports its path and why.
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { TransferError } from './errors.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { raceAbort } from './abort-race.ts'

export type PathKind = 'direct' | 'relayed'

export interface TransferPath {
  readonly peer: string
  readonly protocol: string
  /** what travels, in words: 'update push to', 'history fetch from', ... */
  readonly what: string
  readonly kind: PathKind
  readonly why: string
  readonly bytes: number
}

/** bytes of framing and protocol overhead allowed for on top of the adapter's own size */
const OVERHEAD_BYTES = 64 * 1024

export function isRelayed (conn: Connection): boolean {
  return conn.remoteAddr.toString().includes('/p2p-circuit')
}

/** The connection an adapter of `bytes` should take, or why none fits (pure: the choice over given connections). */
export type PathChoice = { conn: Connection, kind: PathKind, why: string } | { refused: string }

export function choosePath (conns: readonly Connection[], bytes: number): PathChoice {
  const open = conns.filter((c) => c.status === 'open')
  const direct = open.find((c) => !isRelayed(c))
  if (direct !== undefined) {
    const why = open.length > 1 ? 'direct connection preferred over relay' : 'direct connection'
    return { conn: direct, kind: 'direct', why }
  }
  const relayed = open.filter(isRelayed)
  if (relayed.length === 0) return { refused: 'no open connection' }
  const room = (c: Connection): bigint | undefined => c.limits?.bytes
  const fits = relayed.find((c) => room(c) === undefined || room(c)! >= BigInt(bytes + OVERHEAD_BYTES))
  if (fits !== undefined) {
    const left = room(fits)
    const limit = left === undefined ? 'sets no data limit' : `allows ${mib(Number(left))} more`
    return { conn: fits, kind: 'relayed', why: `no direct connection; relay ${limit}` }
  }
  const left = mib(Number(room(relayed[0]!) ?? 0n))
  return { refused: `adapter of ${mib(bytes)} exceeds what the relay allows on this connection (${left} left)` }
}

/**
 * Opens `protocol` to `peer` on the path an adapter of `bytes` may take. A relayed connection that has used up
 * its data limit is closed and redialled once (a fresh relayed connection starts with the relay's full limit).
 */
export async function openForTransfer (
  host: Libp2p, peer: PeerId, protocol: string, bytes: number, signal: AbortSignal, what = protocol
): Promise<{ stream: Stream, path: TransferPath }> {
  if (host.getConnections(peer).every((c) => c.status !== 'open')) await connect(host, peer, signal)
  let choice = choosePath(host.getConnections(peer), bytes)
  if ('refused' in choice) {
    await Promise.all(host.getConnections(peer).filter(isRelayed).map(async (c) => { await c.close().catch(() => {}) }))
    await host.dial(peer, { signal })
    choice = choosePath(host.getConnections(peer), bytes)
    if ('refused' in choice) throw new TransferError(RejectReason.RelayLimit, choice.refused)
  }
  const stream = await choice.conn.newStream(protocol, { signal, negotiateFully: false, runOnLimitedConnection: true })
  return { stream, path: { peer: peer.toString(), protocol, what, kind: choice.kind, why: choice.why, bytes } }
}

/** how long a transfer's dial may take, whatever the try that started it allows (the handshake outlives the try) */
const CONNECT_TIMEOUT_MS = 20_000

/**
 * Holds a connection to `peer` before a transfer whose try limit is sized to its bytes (a fetch) starts its clock: a
 * dial is no bytes, and on a loop lagging a second (100 peers in one process: a dial took 3.8 s at the median, 7.5 s
 * at p90, bench scale) or through a relay it takes seconds of its own. A try of 5 s that also had to dial timed out
 * half the time there, and its retry began the stream over. A dial that does not connect in CONNECT_TIMEOUT_MS
 * throws Unreachable, which no one retries: a source that stalls its handshakes costs one dial's time, not a try's
 * each time.
 */
export async function connectFor (host: Libp2p, peer: PeerId): Promise<void> {
  if (host.getConnections(peer).some((c) => c.status === 'open')) return
  const limit = AbortSignal.timeout(CONNECT_TIMEOUT_MS)
  try {
    await dialOrJoin(host, peer, limit)
  } catch (err) {
    if (limit.aborted) throw new TransferError(RejectReason.Unreachable, `no connection in ${CONNECT_TIMEOUT_MS} ms`)
    throw err
  }
}

/**
 * Waits for a connection to `peer` while `signal` allows, but lets the dial run for CONNECT_TIMEOUT_MS: a try sized
 * to its bytes (5 s) that also had to dial aborted the handshake with it, on a loop lagging seconds (100 peers in one
 * process) try after try, so a push never reached its aggregator; now the next try finds the dial under way or done.
 */
async function connect (host: Libp2p, peer: PeerId, signal: AbortSignal): Promise<void> {
  // a dial that fails after the try gave up on it is the next try's to find out
  await raceAbort(dialOrJoin(host, peer, AbortSignal.timeout(CONNECT_TIMEOUT_MS)), signal, () => signal.reason)
}

/**
 * Dials `peer`; when the peer dialled us at the same moment, its gater refused our dial in favour of its own
 * (one-connection.ts): the connection it opened is ours to use, so a failed dial looks for it before failing.
 */
async function dialOrJoin (host: Libp2p, peer: PeerId, signal: AbortSignal): Promise<void> {
  try {
    await host.dial(peer, { signal })
  } catch (err) {
    if (host.getConnections(peer).some((c) => c.status === 'open')) return
    throw err
  }
}

function mib (n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`
}

// ---------------------------------------------------------------- who hears of the paths
/** a host's transfer-path listener (the peer that owns the host sets it; a host without one reports nothing) */
const listeners = new WeakMap<Libp2p, (p: TransferPath) => void>()

export function onTransferPath (host: Libp2p, fn: (p: TransferPath) => void): void {
  listeners.set(host, fn)
}

export function reportPath (host: Libp2p, path: TransferPath): void {
  listeners.get(host)?.(path)
}
