// Why a peer refused something from the network: one label each, shared by the checks, the logs
// ("rejected <reason> from <peer> round <n>"), the events and the exclusions a result lists.
export const RejectReason = {
  // schema (protocol/validation.ts)
  Oversized: 'oversized',
  Malformed: 'malformed',
  WrongJob: 'wrong_job',
  Unsigned: 'unsigned',
  NotAllowed: 'not_allowed',
  BadField: 'bad_field',
  // where the round stands
  StaleRound: 'stale_round',
  RoundOutOfWindow: 'round_out_of_window',
  JobFinished: 'job_finished',
  StaleAttempt: 'stale_attempt',
  WrongRound: 'wrong_round',
  WrongBase: 'wrong_base',
  // the shared attempt clock (protocol/attempt-clock.ts)
  NotElected: 'not_elected',
  AttemptNotDue: 'attempt_not_due',
  UnknownMembers: 'unknown_members',
  PrunedMembers: 'pruned_members',
  PastDeadline: 'past_deadline',
  DeadlineTooFar: 'deadline_too_far',
  BadSelection: 'bad_selection',
  // results (protocol/result-rules.ts)
  NoAnnounce: 'no_announce',
  NotAggregator: 'not_aggregator',
  Excluded: 'excluded',
  // membership (protocol/membership.ts)
  BadProofOfWork: 'bad_proof_of_work',
  TooYoung: 'too_young',
  UnknownSender: 'unknown_sender',
  // updates at the aggregator
  NotSelected: 'not_selected',
  Duplicate: 'duplicate',
  Late: 'late',
  // signatures, witnesses, evidence (protocol/signed-update.ts, protocol/witness-rules.ts)
  BadSignature: 'bad_signature',
  BadCommitment: 'bad_commitment',
  NotWitness: 'not_witness',
  UpdateUnavailable: 'update_unavailable',
  AdapterUnavailable: 'adapter_unavailable',
  HashMismatch: 'hash_mismatch',
  Equivocation: 'equivocation',
  Contradicted: 'contradicted'
} as const

export type RejectReason = typeof RejectReason[keyof typeof RejectReason]
