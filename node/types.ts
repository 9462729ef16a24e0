// The peer's options, events and the transport it is given: types only, imported by every node/ file that
// needs them and importing none of the peer's behaviour (so no import circle through peer.ts).
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { JobSpec } from '../protocol/job-spec.ts'
import type { SelectFn } from '../protocol/election.ts'
import type { UpdateAck, UpdateHeader } from '../protocol/messages.ts'
import type { LocalTrainer, TrainStep } from '../trainer/local-trainer.ts'
import type { AggregateFn } from '../trainer/aggregate/types.ts'
import type { FeditHost, HostOptions } from './host.ts'
import type { RoundInfo } from './round-info.ts'
import type { RoundStage } from './round-stage.ts'
import type { WitnessCost } from './trust.ts'

export interface PeerTiming {
  /** between Hello heartbeats */
  readonly heartbeatMs: number
  /** a member without a Hello for this long is no longer live */
  readonly memberTtlMs: number
  /** past this many known members, peers without a role in the round Hello less often (member-view.ts) */
  readonly largeJobMembers: number
  /** how many Hellos per heartbeat the peers without a role send in all, in a large job */
  readonly idleHellosPerHeartbeat: number
  /**
   * in a large job, the longest a member without a role in the next round waits before fetching a confirmed
   * result's global adapter (member-role.ts); 0 (the default): no wait
   */
  readonly quietFetchMs: number
  /** how often the round clock is checked */
  readonly tickMs: number
  /** after enough members are live, wait this long before round 1 so every view has them */
  readonly settleMs: number
  /** extra wait for a RoundResult after the deadline before failing over */
  readonly graceMs: number
  readonly discoveryIntervalMs: number
  readonly transferTimeoutMs: number
  /** connected peers kept at most (connection-trim.ts); the mesh, the round's peers and busy links are spared */
  readonly maxConnectedPeers: number
  /** a connection is not trimmed for this long after it opened */
  readonly trimGraceMs: number
  /** between trims */
  readonly trimIntervalMs: number
}

export interface FetchOptions {
  readonly jobId: string
  readonly maxBytes: number
  readonly timeoutMs: number
  /** what is fetched, for the transfer log: the global adapter (default), a trainer's update, the job's history */
  readonly what?: 'adapter' | 'update' | 'history'
}

/**
 * How a peer's round messages and adapters travel: gossip publish, the adapter fetch and the update push.
 * The peer uses libp2pTransport (transfer.ts) unless given another; tests wrap it to hold a transfer back
 * (a slow fetch, a late result) deterministically. Every implementation must verify what it returns
 * (libp2pTransport checks each body's sha256 against the hash asked for).
 */
export interface Transport {
  /** publishes an encoded RoundMessage on `topic` */
  publish: (host: FeditHost, topic: string, data: Uint8Array) => Promise<void>
  /** a global adapter by hash from one peer; throws TransferError (reason: not_found, hash_mismatch, ...) */
  fetchAdapter: (host: FeditHost, from: PeerId, hashHex: string, opts: FetchOptions) => Promise<Uint8Array>
  /** pushes an update; resolves with the aggregator's ack, throws TransferError when the stream breaks */
  pushUpdate: (
    host: FeditHost, to: PeerId, header: UpdateHeader, bytes: Uint8Array, timeoutMs: number
  ) => Promise<UpdateAck>
}

/** listen, announce, bootstrap, local (many peers on 127.0.0.1), allowList, swarmKey, metrics, ... go to the host */
export interface PeerOptions
  extends Pick<HostOptions, 'listen' | 'announce' | 'bootstrap' | 'local' | 'allowList' | 'swarmKey' | 'metrics'
    | 'nat' | 'relay' | 'upnp'> {
  readonly job: JobSpec
  readonly jobId: string
  /** the peer does not close it: the caller owns it */
  readonly trainer: LocalTrainer
  readonly aggregate: AggregateFn
  readonly stateDir: string
  /** default: stateDir/identity.key, created on first run */
  readonly privateKey?: PrivateKey
  readonly select?: SelectFn
  readonly timing?: Partial<PeerTiming>
  readonly logger?: (line: string) => void
  readonly device?: string
  /** local examples, advertised in Hello */
  readonly samples?: number
  /**
   * Deterministic mode (the in-process simulation): the job's members, fixed before round 1. Round 1 waits
   * until all of them are live; every round elects and selects among exactly them, never from a live set
   * that a loaded machine makes flap, so the same seed gives the same adapters. Crashes then cost deadlines.
   */
  readonly members?: readonly string[]
  /** default libp2pTransport (transfer.ts) */
  readonly transport?: Transport
}

export interface AnnounceEvent {
  readonly round: number
  readonly attempt: number
  readonly aggregator: string
  readonly selected: readonly string[]
  readonly members: readonly string[]
  /** Date.now() when this peer published (aggregator) or received (member) it */
  readonly at: number
  readonly mine: boolean
}

interface TrainedEvent {
  readonly round: number
  readonly attempt: number
  readonly samples: number
  readonly trainLoss: number
}

export interface RejectedEvent {
  readonly from: string
  /** a RejectReason label, optionally with ": detail" (protocol/reject-reason.ts) */
  readonly reason: string
  readonly where: 'gossip' | 'hello' | 'update' | 'adapter' | 'announce' | 'result' | 'attestation' | 'chain' |
    'complaint' | 'members'
  /** the round the refused message spoke of, when it named one */
  readonly round?: number
}

export interface PeerEvents {
  announce: [AnnounceEvent]
  /** one optimizer step of this peer's own training ended */
  trainStep: [TrainStep & { readonly round: number }]
  trained: [TrainedEvent]
  result: [RoundInfo]
  /** a message, update or adapter from the network was refused */
  rejected: [RejectedEvent]
  /**
   * we witnessed a result: the update bytes we fetched and the seconds the recompute took (bench round), the
   * result's adapter hash (hex) and whether we agreed
   */
  witnessed: [WitnessCost]
  stage: [RoundStage]
  done: []
}
