// Errors of the aggregation rules. Bad updates are never errors (they become decisions); only a spec that
// cannot be run, or a global adapter that is itself broken, throws.

/**
 * The aggregation spec asks for something this implementation cannot do (e.g. a coordinate-wise median in product
 * space).
 */
export class AggregationSpecError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'AggregationSpecError'
  }
}

/** The round's global adapter (our own state, not a peer's) is inconsistent. */
export class GlobalAdapterError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'GlobalAdapterError'
  }
}
