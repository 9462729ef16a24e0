// gossipsub's parameters for a job's topic: one small, low-rate topic (a Hello per member every 2 s or more,
// a few round messages a round), not the busy, large topics libp2p's defaults are tuned for. In an idle job at
// 20 peers in one process, gossipsub, and the noise, yamux and TCP work its RPCs cause, took most of the CPU
// (docs/performance.md, "Idle cost per peer"); its periodic part is the heartbeat and the IHAVE gossip each
// heartbeat sends to peers outside the mesh. Messages are still pushed at once to the D mesh peers: these
// settings change how often the mesh is maintained and how many lazy-gossip copies of ids go out, not the
// path of a message.
import type { GossipsubOpts } from '@libp2p/gossipsub'

export const JOB_GOSSIP_PARAMS: Partial<GossipsubOpts> = {
  // mesh maintenance and lazy gossip every 2 s instead of 1 s; message ids stay in the gossip window for the
  // same 3 heartbeats, i.e. 6 s, more than a Hello interval, so a peer that missed one still hears its id
  heartbeatInterval: 2000,
  // IHAVE to at least 3 (default 6) peers outside the mesh, or a tenth (default a quarter) of them: in a job
  // every member is connected to every other, so "outside the mesh" is N - D peers and the default sent each
  // message id to a quarter of the job every heartbeat
  Dlazy: 3,
  gossipFactor: 0.1
}
