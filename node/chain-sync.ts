// /fedit/chain/1.0.0: a peer behind asks any member for the confirmed rounds it missed. Framing as the other
// streams (node/transfer.ts): a framed ChainRequest, a framed ChainResponse back, both capped. The answer is
// only bytes here: the asker checks every link (protocol/chain-rules.ts) before it believes one.
import type { Libp2p, PeerId } from '@libp2p/interface'
import { ChainRequest, ChainResponse } from '../protocol/messages.ts'
import type { ChainLink } from '../protocol/messages.ts'
import { CHAIN_PROTOCOL } from '../protocol/topics.ts'
import { MAX_CHAIN_FRAME_BYTES, MAX_CHAIN_LINKS, MAX_HEADER_BYTES } from '../protocol/limits.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { ChunkReader, frame } from './transfer.ts'
import { TransferError } from './errors.ts'
import { openForTransfer } from './transfer-path.ts'

export interface ChainServeOptions {
  readonly jobId: string
  /** consecutive confirmed links from `round` on, at most `max` */
  readonly links: (round: number, max: number) => ChainLink[]
  readonly timeoutMs: number
}

export async function serveChain (host: Libp2p, opts: ChainServeOptions): Promise<void> {
  await host.handle(CHAIN_PROTOCOL, async (stream) => {
    const signal = AbortSignal.timeout(opts.timeoutMs)
    try {
      const q = decodeSafe(await new ChunkReader(stream).readFrame(signal, MAX_HEADER_BYTES))
      const reply = q === undefined || q.jobId !== opts.jobId
        ? { links: [], reason: q === undefined ? RejectReason.Malformed : RejectReason.WrongJob }
        : { links: fit(opts.links(q.fromRound, Math.min(q.maxLinks, MAX_CHAIN_LINKS))), reason: '' }
      stream.send(frame(ChainResponse.encode(reply)))
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 8, runOnLimitedConnection: true })
}

/** Up to `max` links from `fromRound` on, as `from` serves them (unchecked); throws TransferError. */
export async function fetchChain (host: Libp2p, from: PeerId, fromRound: number, max: number,
  opts: { readonly jobId: string, readonly timeoutMs: number }): Promise<ChainLink[]> {
  const signal = AbortSignal.timeout(opts.timeoutMs)
  const { stream } = await openForTransfer(host, from, CHAIN_PROTOCOL, 0, signal)
  try {
    stream.send(frame(ChainRequest.encode({ jobId: opts.jobId, fromRound, maxLinks: max })))
    const body = await new ChunkReader(stream).readFrame(signal, MAX_CHAIN_FRAME_BYTES)
    let r: ChainResponse
    try { r = ChainResponse.decode(body) } catch { throw new TransferError(RejectReason.Malformed, 'not a chain') }
    if (r.reason !== '') throw new TransferError(RejectReason.NotFound, r.reason.slice(0, 100))
    if (r.links.length > max) throw new TransferError(RejectReason.Oversized, `${r.links.length} links > ${max}`)
    await stream.close({ signal }).catch(() => {})
    return r.links
  } catch (err) {
    stream.abort(err as Error)
    throw err instanceof TransferError ? err : new TransferError(RejectReason.StreamError, (err as Error).message)
  }
}

function decodeSafe (b: Uint8Array): ChainRequest | undefined {
  try { return ChainRequest.decode(b) } catch { return undefined }
}

/** As many links as fit one answer frame. */
function fit (links: ChainLink[]): ChainLink[] {
  while (links.length > 1 && ChainResponse.encode({ links, reason: '' }).byteLength > MAX_CHAIN_FRAME_BYTES) {
    links = links.slice(0, Math.ceil(links.length / 2))
  }
  return links
}
