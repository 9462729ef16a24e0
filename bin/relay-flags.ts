// The relay limits of `fedit bootstrap` and `fedit peer --relay`, each checked with a one-line error.
import type { Flags } from './flags.ts'
import { numberFlag } from './flag-values.ts'
import { DEFAULT_RELAY_LIMITS } from '../node/nat-traversal.ts'
import type { RelayLimits } from '../node/nat-traversal.ts'

export const RELAY_FLAGS = ['relay-slots', 'relay-data-mib', 'relay-duration-s'] as const

const D = DEFAULT_RELAY_LIMITS
export const relayHelp =
`  --relay-slots N        relay: peers with a reservation at once (default ${D.maxReservations})
  --relay-data-mib N     relay: MiB one relayed connection may carry each way (default ${D.dataBytes / 2 ** 20},
                         enough for adapters; peers send an adapter through a relay only within it; 0 = no limit)
  --relay-duration-s N   relay: seconds one relayed connection may last (default ${D.durationSeconds}; 0 = no limit)`

export function relayLimits (f: Flags): RelayLimits {
  const mib = numberFlag(f, 'relay-data-mib', { min: 0, max: 1024 * 1024 }) ?? D.dataBytes / 2 ** 20
  return {
    maxReservations: numberFlag(f, 'relay-slots', { integer: true, min: 1, max: 100_000 }) ?? D.maxReservations,
    dataBytes: Math.round(mib * 2 ** 20),
    durationSeconds: numberFlag(f, 'relay-duration-s', { integer: true, min: 0, max: 604_800 }) ?? D.durationSeconds
  }
}
