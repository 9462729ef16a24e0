// Named errors of the peer daemon; `reason` is a short label (log/metric/exclusion reason).

export class TransferError extends Error {
  constructor (readonly reason: string, message?: string) {
    super(message ?? reason)
    this.name = 'TransferError'
  }
}

export class IdentityError extends Error {
  constructor (message: string) { super(message); this.name = 'IdentityError' }
}

export class StateError extends Error {
  constructor (message: string) { super(message); this.name = 'StateError' }
}

export class SwarmKeyError extends Error {
  constructor (message: string) { super(message); this.name = 'SwarmKeyError' }
}

/** a --listen address the host could not bind (port taken, address not on this machine) */
export class ListenError extends Error {
  constructor (message: string) { super(message); this.name = 'ListenError' }
}
