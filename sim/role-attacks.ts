// Attacks by peers in the roles the trust rules check (DESIGN.md "Rounds that trust no one"), not by their
// updates: the peer runs the honest code and its transport changes what it publishes, re-signed with its own
// key, so every receiver sees a validly signed lie.
//   aggregator-garbage: each result it publishes names another adapter than the one the rule gives; its
//     witnesses recompute and contradict it, it is convicted (evidence) and the round fails over
//   witness-liar: each attestation it publishes says the result does not match; a minority of witnesses cannot
//     block a round, and the quorum's agreement refutes the claim and convicts it
import { createHash } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { RoundMessage } from '../protocol/messages.ts'
import { attestationStatement, resultStatement } from '../protocol/signed-update.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { sign } from '../node/signatures.ts'
import { libp2pTransport } from '../node/transfer.ts'
import type { Transport } from '../node/types.ts'

export const ROLE_ATTACKS = ['aggregator-garbage', 'witness-liar'] as const
export type RoleAttack = typeof ROLE_ATTACKS[number]

export function isRoleAttack (a: string): a is RoleAttack {
  return (ROLE_ATTACKS as readonly string[]).includes(a)
}

/** The transport of a peer that plays `attack`, signing its changed messages with `key`. */
export function roleAttackTransport (attack: RoleAttack, key: PrivateKey, inner: Transport = libp2pTransport):
  Transport {
  return {
    ...inner,
    publish: async (host, topic, data) => {
      const m = RoundMessage.decode(data)
      if (attack === 'aggregator-garbage' && m.result !== undefined) {
        const newHash = new Uint8Array(createHash('sha256').update('garbage').update(m.result.newHash).digest())
        const r = { ...m.result, newHash, signature: undefined }
        data = RoundMessage.encode({ result: { ...r, signature: await sign(key, resultStatement(r)) } })
      }
      if (attack === 'witness-liar' && m.attestation !== undefined && m.attestation.agree) {
        const a = { ...m.attestation, agree: false, reason: `${RejectReason.HashMismatch}: (a lie)` }
        data = RoundMessage.encode({ attestation: { ...a, signature: await sign(key, attestationStatement(a)) } })
      }
      await inner.publish(host, topic, data)
    }
  }
}

/** the rejections a peer logs when it convicts someone (the offender is the rejection's `from`) */
export const CONVICTIONS: ReadonlySet<string> = new Set([RejectReason.Equivocation, RejectReason.Contradicted,
  RejectReason.WitnessEquivocation, RejectReason.FalseAttestation])
