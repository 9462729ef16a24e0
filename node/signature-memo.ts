// The gossip signatures this thread has checked, for every peer it hosts (patches/@libp2p+gossipsub: gossipsub
// asks it before checking a message's Ed25519 signature). A simulation or test hosts many peers in one thread,
// and each of them checked each Hello: 100 checks of one signature, ~10 % of a 100-peer process's round time.
// Keyed by the fast message id (host.ts fastMessageId), a SHA-256 over every field, signature and key included: a
// message can find an entry only if it is the very message that passed. A peer alone in its process gains nothing
// (gossipsub's own seen-cache already drops the copies it was sent again).
import type { PeerId, PublicKey } from '@libp2p/interface'
import type { SignatureMemo } from '@libp2p/gossipsub'

/** messages remembered: a few minutes of a 100-peer job's gossip (~10 new messages a second) */
const KEPT = 4096

interface Checked { readonly from: PeerId, readonly key: PublicKey }

class BoundedSignatureMemo implements SignatureMemo {
  private readonly checked = new Map<string, Checked>()

  get (fastMsgId: string): Checked | undefined { return this.checked.get(fastMsgId) }

  set (fastMsgId: string, checked: Checked): void {
    // a Map keeps insertion order: the oldest goes first
    if (this.checked.size >= KEPT) this.checked.delete(this.checked.keys().next().value!)
    this.checked.set(fastMsgId, checked)
  }
}

/** the one memo of this process */
export const processSignatureMemo: SignatureMemo = new BoundedSignatureMemo()
