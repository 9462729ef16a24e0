// Versioned names on the wire. A breaking change to a message bumps the version in its id.

export const UPDATE_PROTOCOL = '/fedit/update/1.0.0'
export const ADAPTER_PROTOCOL = '/fedit/adapter/1.0.0'
/** fedit's own Kademlia DHT, apart from the public IPFS one. */
export const DHT_PROTOCOL = '/fedit/kad/1.0.0'

export function roundsTopic (jobId: string): string {
  return `/fedit/${jobId}/rounds`
}
/** the chain of confirmed rounds, for a peer that is behind (node/chain-sync.ts) */
export const CHAIN_PROTOCOL = '/fedit/chain/1.0.0'
/** the latest signed Hellos a member holds, for a peer that does not know the members yet (node/members-exchange.ts) */
export const MEMBERS_PROTOCOL = '/fedit/members/1.0.0'
