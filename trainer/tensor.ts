// The value type shared by the trainer, the aggregation rules and the network: a dense float32 tensor.

/** A dense, row-major float32 tensor. */
export interface Tensor {
  readonly shape: readonly number[]
  readonly data: Float32Array
}

export function numel (shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

export function tensor (shape: readonly number[], data?: Float32Array): Tensor {
  const n = numel(shape)
  if (data !== undefined && data.length !== n) {
    throw new Error(`tensor: shape [${shape.join(',')}] needs ${n} values, got ${data.length}`)
  }
  return { shape: [...shape], data: data ?? new Float32Array(n) }
}
