// The graph builder's public face.
export { Graph, Value, isFloat } from './graph.ts'
export type { BuiltModel, DType, Dim, FloatDType, ModelOptions, Shape } from './graph.ts'
export { gradients } from './autodiff.ts'
export * as op from './ops.ts'
export { GraphError, DeviceUnavailableError, ExternalDataError } from './errors.ts'
