// The relay limits of `fedit bootstrap` and `fedit peer --relay`, each checked with a one-line error.
import type { Flags } from './flags.ts'
import { numberFlag } from './flag-values.ts'
import { DEFAULT_RELAY_LIMITS } from '../node/nat-traversal.ts'
import type { RelayLimits } from '../node/nat-traversal.ts'

export const RELAY_FLAGS = ['relay-slots', 'relay-data-mib', 'relay-duration-s'] as const

export const relayHelp = `  --relay-slots N        relay: peers that may hold a reservation at once (default ${DEFAULT_RELAY_LIMITS.maxReservations})
  --relay-data-mib N     relay: MiB one relayed connection may carry each way (default ${DEFAULT_RELAY_LIMITS.dataBytes / 2 ** 20},
                         enough for adapters; peers send an adapter through a relay only within it; 0 = no limit)
  --relay-duration-s N   relay: seconds one relayed connection may last (default ${DEFAULT_RELAY_LIMITS.durationSeconds}; 0 = no limit)`

export function relayLimits (f: Flags): RelayLimits {
  const d = DEFAULT_RELAY_LIMITS
  return {
    maxReservations: numberFlag(f, 'relay-slots', { integer: true, min: 1, max: 100_000 }) ?? d.maxReservations,
    dataBytes: Math.round((numberFlag(f, 'relay-data-mib', { min: 0, max: 1024 * 1024 }) ?? d.dataBytes / 2 ** 20) * 2 ** 20),
    durationSeconds: numberFlag(f, 'relay-duration-s', { integer: true, min: 0, max: 7 * 24 * 3600 }) ?? d.durationSeconds
  }
}
