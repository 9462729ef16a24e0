// Every reason a peer refuses something from the network: a gossip message, an announce, a result, an
// update push or an adapter fetch. One enum (gossipsub's src/types.ts keeps its RejectReason the same way),
// so validators, rules, logs and the rounds log's `excluded[].reason` share one vocabulary and code compares
// against members, never literals. Values are short snake_case labels (log and metric labels); where a
// detail helps, it follows as "label: detail" (see withDetail).
export enum RejectReason {
  // ---- schema (protocol/validation.ts): any message, stream header or request
  Oversized = 'oversized',
  Malformed = 'malformed',
  WrongJob = 'wrong_job',
  Unsigned = 'unsigned',
  NotAllowed = 'not_allowed',
  BadField = 'bad_field',
  // ---- an announce against where we stand (protocol/round-rules.ts checkAnnounce)
  StaleRound = 'stale_round',
  RoundOutOfWindow = 'round_out_of_window',
  StaleAttempt = 'stale_attempt',
  NotElected = 'not_elected',
  UnknownMembers = 'unknown_members',
  PastDeadline = 'past_deadline',
  // ---- an update push against the aggregator's round (protocol/round-rules.ts checkUpdate)
  WrongRound = 'wrong_round',
  WrongBase = 'wrong_base',
  NotSelected = 'not_selected',
  Duplicate = 'duplicate',
  Late = 'late',
  NotAggregating = 'not_aggregating',
  // ---- an adapter's bytes (node/adapter-codec.ts decodeAdapter)
  Corrupt = 'corrupt',
  BadTensors = 'bad_tensors',
  NonFinite = 'non_finite',
  /** a selected member whose update never arrived (a round's `excluded[].reason`) */
  NoUpdate = 'no_update',
  /** a selected member that stopped sending Hellos before its update came (the round did not wait for it) */
  Gone = 'gone',
  /** an update the aggregation rule left out, when the rule gave no reason of its own */
  Excluded = 'excluded',
  // ---- a round result (node/member-role.ts onResult)
  NotAggregator = 'not_aggregator',
  UnknownSender = 'unknown_sender',
  AdapterUnavailable = 'adapter_unavailable',
  // ---- transfer streams (node/transfer.ts)
  NotFound = 'not_found',
  HashMismatch = 'hash_mismatch',
  Truncated = 'truncated',
  Timeout = 'timeout',
  StreamError = 'stream_error',
  /** no connection to the peer within a dial's time (node/transfer-path.ts connectFor): the next source, not a retry */
  Unreachable = 'unreachable',
  /** the only path is a relay whose remaining data limit cannot carry the adapter (node/transfer-path.ts) */
  RelayLimit = 'relay_limit',
  // ---- rounds that trust no one (DESIGN.md): the shared attempt clock (protocol/attempt-clock.ts)
  JobFinished = 'job_finished',
  AttemptNotDue = 'attempt_not_due',
  PrunedMembers = 'pruned_members',
  DeadlineTooFar = 'deadline_too_far',
  BadSelection = 'bad_selection',
  // ---- results and witnesses (protocol/result-rules.ts, protocol/signed-update.ts, node/trust.ts)
  NoAnnounce = 'no_announce',
  BadSignature = 'bad_signature',
  BadCommitment = 'bad_commitment',
  NotWitness = 'not_witness',
  UpdateUnavailable = 'update_unavailable',
  Equivocation = 'equivocation',
  Contradicted = 'contradicted',
  /** a witness that signed two opposite attestations of one result */
  WitnessEquivocation = 'witness_equivocation',
  /** a witness whose recomputation claim a quorum of the result's other witnesses signed the opposite of */
  FalseAttestation = 'false_attestation',
  /** a peer with evidence against it (excluded for the rest of the job) */
  Offender = 'offender',
  // ---- the job's history (protocol/history-rules.ts, node/witness-role.ts)
  /** a result starts from a history that is not the previous result's */
  HistoryForged = 'history_forged',
  /** a result starts from the empty history while the previous one can be had */
  HistoryReset = 'history_reset',
  /** the history a result names cannot be fetched from its aggregator */
  HistoryUnavailable = 'history_unavailable',
  /** the history after the round is not what the witness recomputed */
  HistoryMismatch = 'history_mismatch',
  /** an announce whose members include a peer we hold evidence against (its order is not the one we follow) */
  ListsOffender = 'lists_offender',
  // ---- membership (protocol/membership.ts)
  BadProofOfWork = 'bad_proof_of_work',
  // ---- catching up by a chain of confirmed results (protocol/chain-rules.ts, node/catch-up.ts)
  /** a link that does not follow the one before it (round, base adapter) */
  ChainBroken = 'chain_broken',
  /** a link without a quorum of valid agreeing attestations from the witnesses its beacon draws */
  ChainNoQuorum = 'chain_no_quorum',
  /** a server whose chain stops short of the round its Hello claims (truncated or stale) */
  ChainShort = 'chain_short',
  // ---- complaints (protocol/complaint.ts)
  /** an aggregator's signed result omits an update it signed a receipt for (evidence) */
  DroppedUpdate = 'dropped_update',
  /** a complaint without a valid receipt, or about an update the result does name: logged, not acted on */
  BadComplaint = 'bad_complaint'
}

/** "label" or "label: detail", the shape of every reason string in logs, events and round results. */
export function withDetail (reason: RejectReason, detail?: string): string {
  return detail === undefined ? reason : `${reason}: ${detail}`
}
