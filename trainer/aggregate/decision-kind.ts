// What the aggregator decided about one peer's update: string values that double as log and metric labels
// (gossipsub's habit), and become the `excluded[].reason` kinds of a round result.

export enum DecisionKind {
  Included = 'included',
  Clipped = 'clipped', // included, scaled down to the clip bound
  // validate
  Duplicate = 'duplicate_peer', // a second update from the same peer in one round
  WrongRound = 'wrong_round', // stale (or future) round
  WrongBase = 'wrong_base', // trained from another global adapter
  BadSamples = 'bad_samples', // not a positive integer, or above the cap
  ConfigMismatch = 'config_mismatch', // LoRA rank/alpha not the job's (and mixed ranks not allowed)
  MissingTensor = 'missing_tensor',
  UnknownTensor = 'unknown_tensor',
  ShapeMismatch = 'shape_mismatch',
  NonFinite = 'non_finite',
  // filter
  NormTooLarge = 'norm_too_large',
  NormTooSmall = 'norm_too_small',
  CosineOutlier = 'cosine_outlier',
  KrumRejected = 'krum_rejected',
  NearCopy = 'near_copy', // nearly the same update as another peer's this round (Sybil copies)
  // its residuals across rounds agree with another peer's (a repeated hidden bias)
  HistoryColluder = 'history_colluder',
  Undecidable = 'undecidable' // two updates that disagree: too few to tell which one is the outlier
}

/** A number for a reason string: 3 significant digits, no exponent noise for ordinary magnitudes. */
export function fmt (x: number): string {
  if (!Number.isFinite(x)) return String(x)
  if (x === 0) return '0'
  const a = Math.abs(x)
  if (a >= 1e6 || a < 1e-3) return x.toExponential(2)
  return String(Number(x.toPrecision(3)))
}
