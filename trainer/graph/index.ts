// The graph builder's public face.
export { Graph, Value } from './graph.ts'
export type { DType, Dim } from './graph.ts'
export { gradients } from './autodiff.ts'
export * as op from './ops.ts'
