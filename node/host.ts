// The libp2p host of a fedit peer or bootstrap: TCP + noise + yamux, identify, ping, fedit's own kad-dht,
// gossipsub (signed messages only), and for peers behind NATs AutoNAT, circuit-relay-v2 and DCUtR (nat-traversal.ts).
// Options that only make sense when many nodes share one IP (tests, the simulation) sit behind `local: true`
// and are never on by default.
import './polyfill.ts'
import { createHash } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import type { ComponentLogger, Libp2p, Metrics, PeerId, PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { preSharedKey } from '@libp2p/pnet'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { bootstrap } from '@libp2p/bootstrap'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import { gossipsub, StrictSign } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { DHT_PROTOCOL } from '../protocol/topics.ts'
import { MAX_GOSSIP_BYTES } from '../protocol/limits.ts'
import { parseSwarmKey } from './swarm-key.ts'
import { natServices, natTransports, natListen } from './nat-traversal.ts'
import type { RelayLimits } from './nat-traversal.ts'
import { ListenError } from './errors.ts'
import { PairGate } from './one-connection.ts'
import { processSignatureMemo } from './signature-memo.ts'
import { noiseCrypto } from './noise-crypto.ts'

/** kad-dht's closest peers to our own id kept connected (its default 20) */
const CLOSEST_KEPT_ALIVE = 0

export type FeditServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
}

export type FeditHost = Libp2p<FeditServices>

export interface HostOptions {
  readonly privateKey: PrivateKey
  /** multiaddrs to listen on, default /ip4/0.0.0.0/tcp/0 */
  readonly listen?: readonly string[]
  /**
   * addresses to advertise as they are, next to the listen ones (a public IP, a port forwarded by hand);
   * others are advertised only once AutoNAT confirmed them
   */
  readonly announce?: readonly string[]
  /** multiaddrs (with /p2p/<id>) of bootstrap nodes */
  readonly bootstrap?: readonly string[]
  /**
   * Many nodes on 127.0.0.1 (tests, simulation): allow-list loopback in the connection manager (its per-IP
   * inbound rate limit otherwise resets the 6th dial), whitelist it from gossipsub's IP-colocation penalty,
   * keep private addresses in the DHT. Never for a public network.
   */
  readonly local?: boolean
  /** private federation: only these peer ids may connect (add the bootstrap's id) */
  readonly allowList?: ReadonlySet<string>
  /** private federation: a libp2p swarm key (the /key/swarm/psk/1.0.0/ file's bytes, see swarm-key.ts) */
  readonly swarmKey?: Uint8Array
  /** libp2p's metrics (node/observe/metrics.ts: @libp2p/prometheus-metrics), for --metrics */
  readonly metrics?: (components: { logger: ComponentLogger }) => Metrics
  /**
   * AutoNAT, a circuit-relay-v2 client (reservations on relays it finds, /p2p-circuit addresses) and DCUtR;
   * default on, off with `local` (one machine: everyone is dialable)
   */
  readonly nat?: boolean
  /** serve as a circuit-relay-v2 relay with these limits (a bootstrap by default, a peer with --relay) */
  readonly relay?: RelayLimits
  /** ask the router for a port mapping (UPnP / NAT-PMP), opt-in */
  readonly upnp?: boolean
}

export async function createHost (opts: HostOptions): Promise<FeditHost> {
  try {
    return await startLibp2p(opts)
  } catch (err) {
    throw listenError(err) ?? err
  }
}

/**
 * libp2p reports a listen address it could not bind with every address's error and stack in one message;
 * the user needs one line per address: which one, and why (EADDRINUSE: the port is taken).
 */
function listenError (err: unknown): ListenError | undefined {
  if (!(err instanceof Error) || err.name !== 'UnsupportedListenAddressesError') return undefined
  const failed = [...err.message.matchAll(/^\s+(\/\S+): (?:\w*Error: )?(.*)$/gm)].map(([, addr, why]) => {
    const reason = /EADDRINUSE/.test(why!) ? 'the port is in use (another program or fedit node holds it)'
      : /EADDRNOTAVAIL/.test(why!) ? 'the address is not one of this machine\'s' : why!.replace(/^listen \w+: /, '')
    return `cannot listen on ${addr}: ${reason}`
  })
  return new ListenError(failed.length > 0 ? `${failed.join('; ')}; choose another --listen`
    : err.message.split('\n')[0]!)
}

async function startLibp2p (opts: HostOptions): Promise<FeditHost> {
  const local = opts.local === true
  const allow = opts.allowList
  const denied = (peer: PeerId): boolean => allow !== undefined && !allow.has(peer.toString())
  const nat = { enabled: opts.nat ?? !local, relay: opts.relay, upnp: opts.upnp === true }
  // attached once createLibp2p returns; before that no one has our address, so there is nothing to deduplicate.
  // Not where AutoNAT runs: its dial-back is a deliberate second connection (the NAT lab's public peer was never
  // confirmed public with the gate on; letting confirmed connections be doubled did not fix that, not understood)
  const pairs = new PairGate()
  const gate = !(nat.enabled || nat.relay !== undefined)
  const host = await createLibp2p({
    privateKey: opts.privateKey,
    ...(opts.metrics !== undefined ? { metrics: opts.metrics } : {}),
    addresses: {
      listen: [...(opts.listen ?? ['/ip4/0.0.0.0/tcp/0']), ...natListen(nat)],
      appendAnnounce: [...(opts.announce ?? [])]
    },
    transports: [tcp(), ...natTransports(nat)],
    // the handshake's X25519 without importing each key from DER (node/noise-crypto.ts: ~5x cheaper agreements)
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    // yamux pings each connection to find dead TCP ones; a member holds ~20-45 connections in a large job, so at the
    // default 30 s that was ~3 frames a second per peer (bench scale's frame count); liveness of members comes from
    // Hellos, so a dead connection found in 90 s instead of 30 s costs only a stale gossipsub peer meanwhile
    streamMuxers: [yamux({ keepAliveInterval: 90_000 })],
    ...(opts.swarmKey !== undefined
      ? { connectionProtector: preSharedKey({ psk: parseSwarmKey(opts.swarmKey, 'swarm key') }) }
      : {}),
    connectionGater: {
      // loopback and private addresses are the whole point of a LAN/local run; the default gater denies them
      ...(local ? { denyDialMultiaddr: () => false } : {}),
      denyDialPeer: denied,
      // at most one direct connection per pair (one-connection.ts): simultaneous dials from both ends
      denyInboundEncryptedConnection: (peer, conn) => denied(peer) || (gate && pairs.refuses(peer, conn.remoteAddr)),
      denyOutboundEncryptedConnection: (peer, conn) => denied(peer) || (gate && pairs.abandons(peer, conn.remoteAddr))
    },
    // a process holding 50-100 peers (the simulation, bench scale) runs a loop that lags by seconds while they join:
    // at libp2p's 6 s per address and 10 s per inbound upgrade, handshakes with the busy bootstrap timed out over and
    // over (54 of 100 peers alone after 80 s); a slow handshake that completes beats a fast one that is retried
    connectionManager: local
      ? {
          allow: ['/ip4/127.0.0.1/ipcidr/32'],
          dialTimeout: 30_000,
          addressDialTimeout: 20_000,
          inboundUpgradeTimeout: 30_000
        }
      : {},
    // libp2p's connection monitor opens a ping stream on every connection every 10 s and aborts the connection
    // when a ping is late. A job's members are all connected to each other, so that is a stream per peer per
    // second for each peer; with 20 peers in one process (bench/round) it was a large share of the CPU, and
    // under event-loop lag its timeouts closed connections in the middle of a push ("connection muxer is
    // closed"). Liveness comes from our signed Hellos and dead TCP connections from yamux's keep-alive.
    connectionMonitor: { enabled: false },
    peerDiscovery: (opts.bootstrap ?? []).length > 0 ? [bootstrap({ list: [...opts.bootstrap!], timeout: 100 })] : [],
    services: {
      identify: identify(),
      ping: ping(), // kad-dht depends on identify and ping
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        // the default is client mode until a public address is seen: on a LAN or loopback nobody would serve
        clientMode: false,
        // kad-dht tags the 20 peers closest to our id keep-alive, and libp2p redials them whenever they disconnect: 20
        // connections a member could never close, and a peer that trims one it is not close to (connection-trim.ts)
        // is redialled at once by the other end. None: the routing table keeps its entries, and lookups dial what
        // they need (patched in: kad-dht 16.4.5 did not pass this option on to its routing table)
        closestPeerSetSize: CLOSEST_KEPT_ALIVE,
        // with `local` a process may hold 100 peers and lag seconds: kad-dht's 10 s to add a connected peer to its
        // routing table ran out, the bootstrap was never added, every lookup found nothing, and the peer stayed alone
        ...(local ? { peerInfoMapper: passthroughMapper, onPeerConnectTimeout: 60_000 } : {})
      }),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictSign,
        emitSelf: false,
        allowPublishToZeroTopicPeers: true, // a lone peer's heartbeat is not an error
        maxInboundDataLength: MAX_GOSSIP_BYTES * 4,
        fastMsgIdFn: fastMessageId,
        // peers in one process check each message's signature once between them (patched in: node/signature-memo.ts)
        signatureMemo: processSignatureMemo,
        // members reachable only through a relay still gossip with everyone (relay limits cap what it costs)
        runOnLimitedConnection: nat.enabled,
        ...(local ? { scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1']) } } : {}),
        // a job's topic carries a few small messages a second: a heartbeat (mesh upkeep, IHAVE gossip) every 3 s
        // instead of 1 s, and IHAVE to max(3, a tenth of) the non-mesh peers instead of max(6, a quarter) cut an
        // idle peer's CPU to ~0.55x (bench scale, docs/performance.md); messages still go at once to the mesh,
        // and our own to every subscribed peer we are connected to (floodPublish)
        heartbeatInterval: 3000,
        // each message a peer takes is forwarded to its mesh peers but one: forwarding was most of the socket writes
        // of 100 peers in one process (profile in docs/performance.md); a mesh of 4 (3-6) instead of 6 (4-12) cut an
        // idle peer's write syscalls to ~0.6x in bench scale. Our own messages still go to every subscribed peer.
        // A joiner grafts D peers and is grafted by later ones, so degrees settle near 2D: at D 4 most peers sat at
        // Dhi 6, where gossipsub takes a GRAFT only from a peer it dialled, and late joiners were refused all round
        // with a minute's backoff, outside the mesh. D 3 (2-8): mean degree 5.3 -> 4.2 at 100 peers, few refusals
        D: 3,
        Dlo: 2,
        Dhi: 8,
        Dout: 1,
        Dlazy: 3,
        gossipFactor: 0.1
      }),
      ...natServices(nat)
    }
  })
  pairs.attach(host)
  return host as unknown as FeditHost
}

/**
 * Without a fast id, gossipsub checks the Ed25519 signature of every copy of a message before it looks in
 * its seen-cache, and each message arrives from several mesh peers: with 20 peers in one process that was
 * most of the CPU (bench/round). This id covers every field, signature included, so a copy with another
 * signature or payload is not taken for a message already seen; the cache is filled only after a copy
 * passed validation.
 */
export function fastMessageId (msg: {
  from?: Uint8Array, seqno?: Uint8Array, data?: Uint8Array, topic: string, signature?: Uint8Array, key?: Uint8Array
}): string {
  const h = createHash('sha256')
  for (const part of [msg.from, msg.seqno, msg.signature, msg.key, msg.data]) {
    const len = Buffer.alloc(4); len.writeUInt32BE(part?.byteLength ?? 0xffffffff)
    h.update(len)
    if (part !== undefined) h.update(part)
  }
  return h.update(msg.topic).digest('base64')
}
