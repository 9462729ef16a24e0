// Caps on everything that arrives from the network. Defaults; a job may lower maxAdapterBytes.

/** Largest gossip message (a RoundMessage); gossipsub's own cap is set to the same. */
export const MAX_GOSSIP_BYTES = 64 * 1024
/** Largest stream header (UpdateHeader, AdapterRequest, ...). */
export const MAX_HEADER_BYTES = 4 * 1024
/** Default cap on one adapter's safetensors bytes (a 7B rank-8 all-module adapter in F32 is ~160 MB). */
export const DEFAULT_MAX_ADAPTER_BYTES = 256 * 1024 * 1024
/** Most members an announce may list. */
export const MAX_MEMBERS = 1024
/** Longest peer id string (base58 Ed25519 ids are 52 chars; RSA ones are longer). */
export const MAX_PEER_ID_CHARS = 128
/** Longest exclusion reason. */
export const MAX_REASON_CHARS = 200
/** A message about a round further ahead of ours than this is rejected (no one can jump the job far ahead). */
export const ROUND_WINDOW = 2
/** Most failover attempts of one round. */
export const MAX_ATTEMPTS = 16
/** sha256 digest length. */
export const HASH_BYTES = 32
/**
 * Longest Hello interval a peer may announce (its interval grows with membership, node/member-view.ts): the quiet
 * members of a job send ~1 Hello a heartbeat in all up to ~120 members at a 2 s heartbeat (at 30 s, past 30
 * members, the job's Hellos grew with it: 4.4 a second at 100); a quiet member that leaves is missed after up to 3
 * of these. The peers that matter to a round are not quiet (peer.ts hasRole) or are probed (trainer-probe.ts).
 */
export const MAX_HELLO_INTERVAL_MS = 240_000
/** Most chain links one /fedit/chain answer carries (the asker pages through longer chains). */
export const MAX_CHAIN_LINKS = 32
/** Largest signed Hello in a /fedit/members answer (a Hello is ~200 bytes, gossipsub's envelope ~200 more). */
export const MAX_SIGNED_HELLO_BYTES = 2 * 1024
/** Listen addresses a Hello may carry, and the bytes of each (a relayed one is ~50: relay id and circuit). */
export const MAX_HELLO_ADDRS = 4
export const MAX_ADDR_BYTES = 128
/** Largest /fedit/members answer: MAX_MEMBERS Hellos of ~500 bytes; a server stops adding Hellos here. */
export const MAX_MEMBERS_FRAME_BYTES = 1024 * 1024
/** Largest /fedit/chain answer (32 links of a few KB; a 1024-member announce list is ~60 KB). */
export const MAX_CHAIN_FRAME_BYTES = 4 * 1024 * 1024

/**
 * Tries of an update push (node/member-role.ts; each with twice the last one's time limit). The aggregator admits
 * that many minus one resends of an update it took, each answered with the same receipt (node/aggregator-role.ts).
 */
export const UPDATE_PUSH_TRIES = 4
