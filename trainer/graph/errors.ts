// Named errors of the graph builder and the session helper (tests assert on `name`).

export class GraphError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'GraphError'
  }
}

/** The requested execution provider is not available in this onnxruntime-node installation. */
export class DeviceUnavailableError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DeviceUnavailableError'
  }
}

/** External weight files ONNX Runtime cannot read in place (symlinks out of their folder, unreachable paths). */
export class ExternalDataError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ExternalDataError'
  }
}
