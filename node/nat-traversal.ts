// The libp2p parts that let peers behind NATs take part, all js-libp2p's own modules:
//   AutoNAT v2     others dial us back: is an address of ours reachable from outside? (v1 closed the peers'
//                  connections to the relay mid-reservation in the namespace lab, test/nat/; v2 does not)
//   circuit relay  a peer nobody can dial reserves a slot on a relay (a bootstrap, or a peer with --relay) and
//                  is reached at <relay>/p2p-circuit/p2p/<id>; a relay caps each relayed connection (RelayLimits)
//   DCUtR          upgrades a relayed connection to a direct one (hole punching / connection reversal)
//   UPnP/NAT-PMP   opt-in: ask the home router for a port mapping
// Node 20's TCP has no SO_REUSEPORT, so a TCP hole punch between two NATed js peers cannot succeed (js-libp2p
// issue 2620): DCUtR still turns a relayed connection direct when one side is public (it dials back).
import { autoNATv2 } from '@libp2p/autonat-v2'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { uPnPNAT } from '@libp2p/upnp-nat'

export interface RelayLimits {
  /** reservations held at once */
  readonly maxReservations: number
  /** bytes one relayed connection may carry in each direction; 0 = unlimited */
  readonly dataBytes: number
  /** seconds one relayed connection may last; 0 = unlimited */
  readonly durationSeconds: number
}

/**
 * A fedit relay's defaults: enough for a relayed member to push and fetch adapters of tens of MB for a while.
 * (libp2p's own defaults, 128 KiB and 2 minutes per connection, are meant only for DCUtR's handshake.)
 */
export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  maxReservations: 64,
  dataBytes: 256 * 2 ** 20,
  durationSeconds: 30 * 60
}

export interface NatSetup {
  readonly enabled: boolean
  readonly relay?: RelayLimits
  readonly upnp: boolean
}

/** /p2p-circuit asks the relay transport to hold reservations; a relay itself needs none */
export function natListen (nat: NatSetup): string[] {
  return nat.enabled && nat.relay === undefined ? ['/p2p-circuit'] : []
}

export function natTransports (nat: NatSetup): Array<ReturnType<typeof circuitRelayTransport>> {
  return nat.enabled || nat.relay !== undefined ? [circuitRelayTransport({ reservationCompletionTimeout: 10_000 })] : []
}

export function natServices (nat: NatSetup): Record<string, (components: any) => unknown> {
  const out: Record<string, (components: any) => unknown> = {}
  if (nat.enabled || nat.relay !== undefined) out.autonat = autoNATv2()
  if (nat.enabled) out.dcutr = dcutr()
  if (nat.relay !== undefined) out.relay = circuitRelayServer({ reservations: relayReservations(nat.relay) })
  if (nat.upnp) out.upnp = uPnPNAT()
  return out
}

interface ReservationLimits {
  maxReservations: number
  applyDefaultLimit: boolean
  defaultDataLimit?: bigint
  defaultDurationLimit?: number
}

function relayReservations (l: RelayLimits): ReservationLimits {
  const unlimited = l.dataBytes === 0 && l.durationSeconds === 0
  // the relay server takes a limit of 0 literally (it would close every relayed connection at once), so one
  // unlimited dimension next to a limited one is the largest value it handles (a timer's maximum for time)
  return {
    maxReservations: l.maxReservations,
    applyDefaultLimit: !unlimited,
    ...(unlimited
      ? {}
      : {
          defaultDataLimit: l.dataBytes === 0 ? 2n ** 62n : BigInt(l.dataBytes),
          defaultDurationLimit: l.durationSeconds === 0 ? 2 ** 31 - 1 : Math.min(2 ** 31 - 1, l.durationSeconds * 1000)
        })
  }
}
