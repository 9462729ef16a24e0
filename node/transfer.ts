// Adapter transfer streams. Framing: a 4-byte big-endian length + protobuf header, then (when the header
// says so) exactly `size` raw adapter bytes sent in chunks with backpressure (send()/onDrain()), then a
// framed reply. Every read has a deadline and a cap; the sha256 of the body is checked before use.
// Streams are opened with negotiateFully: false: the protocol id travels with the first frame instead of
// costing a round trip of its own.
//   /fedit/adapter/1.0.0  requester: AdapterRequest      <- AdapterResponse [+ bytes]
//   /fedit/update/1.0.0   member:    UpdateHeader + bytes <- UpdateAck
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { AdapterRequest, AdapterResponse, UpdateAck, UpdateHeader } from '../protocol/messages.ts'
import { ADAPTER_PROTOCOL, UPDATE_PROTOCOL } from '../protocol/topics.ts'
import { MAX_HEADER_BYTES } from '../protocol/limits.ts'
import { decodeAdapterRequest, decodeUpdateHeader } from '../protocol/validation.ts'
import type { Check } from '../protocol/round-rules.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import type { FetchOptions, Transport } from './types.ts'
import { TransferError } from './errors.ts'
import { BodyHasher } from './body-hasher.ts'
import { hex, unhex } from './hex.ts'
import { connectFor, openForTransfer, reportPath } from './transfer-path.ts'
import { raceAbort } from './abort-race.ts'

/** 1 MiB writes: large enough to amortise per-chunk overhead, small enough to interleave with other streams. */
export const CHUNK_BYTES = 1 << 20

/** Reads exact byte counts from a libp2p stream. */
export class ChunkReader {
  private readonly it: AsyncIterator<Uint8Array | Iterable<Uint8Array>>
  // the rest of the last message, as the muxer's own buffers: a libp2p 3 stream yields Uint8ArrayLists, and
  // flattening each with .subarray() copied every byte once more (a quarter of the CPU time of a transfer)
  private segments: Uint8Array[] = []
  private head = 0

  constructor (stream: Stream) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array | Iterable<Uint8Array>>
  }

  /** The stream's next message, or a TransferError('timeout') when `signal` aborts first (raceAbort). */
  private async nextMessage (signal: AbortSignal): Promise<IteratorResult<Uint8Array | Iterable<Uint8Array>>> {
    return await raceAbort(this.it.next(), signal, () => new TransferError(RejectReason.Timeout))
  }

  /** Next chunk (at most `max` bytes, a view into the muxer's buffer), or undefined at end of stream. */
  private async next (max: number, signal: AbortSignal): Promise<Uint8Array | undefined> {
    while (this.head >= this.segments.length) {
      const r = await this.nextMessage(signal)
      if (r.done === true) return undefined
      this.segments = r.value instanceof Uint8Array ? [r.value] : [...r.value]
      this.head = 0
    }
    const seg = this.segments[this.head]!
    if (seg.byteLength <= max) { this.head++; return seg }
    this.segments[this.head] = seg.subarray(max)
    return seg.subarray(0, max)
  }

  /** Fills `target`; `onFilled(n)` after each copy, when target[0, n) holds data. */
  async readInto (target: Uint8Array, signal: AbortSignal, onFilled?: (n: number) => void): Promise<void> {
    let got = 0
    while (got < target.byteLength) {
      const c = await this.next(target.byteLength - got, signal)
      if (c === undefined) {
        throw new TransferError(RejectReason.Truncated, `stream ended after ${got} of ${target.byteLength} bytes`)
      }
      if (c.byteLength === 0) continue
      target.set(c, got)
      got += c.byteLength
      onFilled?.(got)
    }
  }

  async readFrame (signal: AbortSignal, max = MAX_HEADER_BYTES): Promise<Uint8Array> {
    const len = new Uint8Array(4)
    await this.readInto(len, signal)
    const n = new DataView(len.buffer).getUint32(0)
    if (n > max) throw new TransferError(RejectReason.Oversized, `frame of ${n} bytes > ${max}`)
    const body = new Uint8Array(n)
    await this.readInto(body, signal)
    return body
  }
}

export function frame (payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength)
  new DataView(out.buffer).setUint32(0, payload.byteLength)
  out.set(payload, 4)
  return out
}

export async function sendChunked (stream: Stream, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  for (let o = 0; o < bytes.byteLength; o += CHUNK_BYTES) {
    if (!stream.send(bytes.subarray(o, Math.min(o + CHUNK_BYTES, bytes.byteLength)))) await stream.onDrain({ signal })
  }
}

/** Reads `size` bytes and checks their sha256 against `hashHex`. */
export async function receiveBody (
  reader: ChunkReader, size: number, hashHex: string, signal: AbortSignal
): Promise<Uint8Array> {
  const h = new BodyHasher(size)
  try {
    await reader.readInto(h.body, signal, (got) => { h.filled(got) })
  } catch (err) {
    h.drop()
    throw err
  }
  if (await h.digest() !== hashHex) {
    throw new TransferError(RejectReason.HashMismatch, 'adapter bytes do not match their sha256')
  }
  return h.body
}


// ---------------------------------------------------------------- /fedit/adapter/1.0.0
export interface AdapterServeOptions {
  readonly jobId: string
  /** the bytes of a global adapter we hold, by hash */
  readonly lookup: (hashHex: string) => Uint8Array | undefined
  readonly timeoutMs: number
}

export async function serveAdapters (host: Libp2p, opts: AdapterServeOptions): Promise<void> {
  await host.handle(ADAPTER_PROTOCOL, async (stream) => {
    const signal = AbortSignal.timeout(opts.timeoutMs)
    try {
      const q = decodeAdapterRequest(await new ChunkReader(stream).readFrame(signal), opts.jobId)
      const bytes = q.valid ? opts.lookup(hex(q.message.hash)) : undefined
      const reply = AdapterResponse.encode(bytes === undefined
        ? { found: false, reason: q.valid ? RejectReason.NotFound : q.reason }
        : { found: true, size: BigInt(bytes.byteLength) })
      stream.send(frame(reply))
      if (bytes !== undefined) await sendChunked(stream, bytes, signal)
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 16, runOnLimitedConnection: true }) // transfer-path.ts decides what a relay may carry
}

/** Fetches a global adapter by hash from one peer; throws TransferError (reason: not_found, hash_mismatch, ...). */
export async function fetchAdapter (
  host: Libp2p, from: PeerId, hashHex: string, opts: FetchOptions
): Promise<Uint8Array> {
  // the try's limit is sized to the adapter's bytes: its clock starts once we hold a connection
  await connectFor(host, from)
  const signal = AbortSignal.timeout(opts.timeoutMs)
  const { stream, path } = await openForTransfer(host, from, ADAPTER_PROTOCOL, opts.maxBytes, signal,
    `${opts.what ?? 'adapter'} fetch from`)
  reportPath(host, path)
  try {
    stream.send(frame(AdapterRequest.encode({ jobId: opts.jobId, hash: unhex(hashHex) })))
    const reader = new ChunkReader(stream)
    const r = AdapterResponse.decode(await reader.readFrame(signal))
    if (!r.found) throw new TransferError(r.reason === '' ? RejectReason.NotFound : r.reason.slice(0, 100))
    if (r.size <= 0n || r.size > BigInt(opts.maxBytes)) {
      throw new TransferError(RejectReason.Oversized, `adapter of ${r.size} bytes > cap ${opts.maxBytes}`)
    }
    const body = await receiveBody(reader, Number(r.size), hashHex, signal)
    await stream.close({ signal }).catch(() => {})
    return body
  } catch (err) {
    stream.abort(err as Error)
    throw err instanceof TransferError ? err : new TransferError(RejectReason.StreamError, (err as Error).message)
  }
}

// ---------------------------------------------------------------- /fedit/update/1.0.0
export interface UpdateServeOptions {
  readonly jobId: string
  readonly maxBytes: number
  readonly timeoutMs: number
  /** checked on the header before any adapter byte is read */
  readonly admit: (sender: string, header: UpdateHeader) => Check
  /** the verified bytes; returns whether the update was taken */
  readonly accept: (sender: string, header: UpdateHeader, bytes: Uint8Array) =>
  Promise<Check & { readonly receipt?: Uint8Array<ArrayBuffer> }>
  /** a refused or broken push, for logs and the round's exclusions */
  readonly onReject?: (sender: string, reason: string) => void
}

export async function serveUpdates (host: Libp2p, opts: UpdateServeOptions): Promise<void> {
  await host.handle(UPDATE_PROTOCOL, async (stream, connection) => {
    const sender = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(opts.timeoutMs)
    const refuse = async (reason: string): Promise<void> => {
      opts.onReject?.(sender, reason)
      stream.send(frame(UpdateAck.encode({ accepted: false, reason })))
      await stream.close({ signal }).catch(() => {})
    }
    try {
      const reader = new ChunkReader(stream)
      const h = decodeUpdateHeader(await reader.readFrame(signal), opts.jobId, opts.maxBytes)
      if (!h.valid) { await refuse(h.reason); return }
      const admitted = opts.admit(sender, h.message)
      if (!admitted.ok) { await refuse(admitted.reason); return }
      let body: Uint8Array
      try {
        body = await receiveBody(reader, Number(h.message.size), hex(h.message.adapterHash), signal)
      } catch (err) {
        const reason = err instanceof TransferError ? err.reason : RejectReason.StreamError
        if (reason === RejectReason.HashMismatch) { await refuse(reason); return }
        opts.onReject?.(sender, reason)
        stream.abort(err as Error)
        return
      }
      const taken = await opts.accept(sender, h.message, body)
      if (!taken.ok) { await refuse(taken.reason); return }
      stream.send(frame(UpdateAck.encode({ accepted: true, receipt: taken.receipt })))
      await stream.close({ signal })
    } catch (err) {
      opts.onReject?.(sender, err instanceof TransferError ? err.reason : RejectReason.StreamError)
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 64, runOnLimitedConnection: true })
}

/** Pushes an update; resolves with the aggregator's ack, throws TransferError when the stream breaks. */
export async function pushUpdate (
  host: Libp2p, to: PeerId, header: UpdateHeader, bytes: Uint8Array, timeoutMs: number
): Promise<UpdateAck> {
  const signal = AbortSignal.timeout(Math.ceil(timeoutMs)) // AbortSignal.timeout throws on a fraction
  const { stream, path } = await openForTransfer(host, to, UPDATE_PROTOCOL, bytes.byteLength, signal,
    'update push to')
  reportPath(host, path)
  try {
    stream.send(frame(UpdateHeader.encode(header)))
    const reader = new ChunkReader(stream)
    await sendChunked(stream, bytes, signal)
    const ack = UpdateAck.decode(await reader.readFrame(signal))
    await stream.close({ signal }).catch(() => {})
    return ack
  } catch (err) {
    stream.abort(err as Error)
    throw err instanceof TransferError ? err : new TransferError(RejectReason.StreamError, (err as Error).message)
  }
}

/**
 * The time limit of try `attempt` (0, 1, ...) of a transfer of about `bytes`: 5 s at least, 250 kB/s, doubled with
 * each retry, never past `capMs`. Not the whole transfer timeout for every try: on a loop lagging seconds (100 peers
 * in one process) a stuck try held a push or fetch for minutes before the next try or source was asked.
 */
export function tryLimitMs (bytes: number, attempt: number, capMs: number): number {
  return Math.min(capMs, Math.max(5000, bytes / 250) * 2 ** attempt)
}

const RETRYABLE: readonly string[] = [RejectReason.StreamError, RejectReason.Truncated, RejectReason.Timeout]

/** a broken stream or a try that ran out of time, not a definite refusal (not found, a hash mismatch, ...) */
export function retryableTransfer (e: unknown): boolean {
  return !(e instanceof TransferError) || RETRYABLE.includes(e.reason)
}

/** Retries `fn` (a transfer) on broken streams, not on a definite refusal. */
export async function withRetries<T> (
  attempts: number,
  fn: (attempt: number) => Promise<T>,
  retryable = retryableTransfer
): Promise<T> {
  let last: unknown
  for (let i = 0; i < attempts; i++) {
    try { return await fn(i) } catch (err) {
      last = err
      if (!retryable(err)) throw err
    }
  }
  throw last
}

/** The transport of a real peer: gossipsub for round messages, the two streams above for adapters. */
export const libp2pTransport: Transport = {
  publish: async (host, topic, data) => { await host.services.pubsub.publish(topic, data) },
  fetchAdapter,
  pushUpdate
}
