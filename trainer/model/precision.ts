// Compute precision: the element type of activations and Gemms. fp16/bf16 compute runs the decoder's
// activations and products in the half type, on half weights as stored, with fp32 islands where range or
// accumulation matters (RMSNorm, softmax, the loss, the LoRA tensors, their gradients and the optimizer).
// `auto` picks the checkpoint's own precision on a GPU provider and fp32 compute over half storage on the CPU,
// whose provider has no native half MatMul (ORT inserts casts around fp16 ops) and no bfloat16 kernels at all.
import type { DType } from '../graph/types.ts'
import type { Device } from '../graph/session.ts'
import type { CheckpointLayout } from './config.ts'
import { linearWeightName } from './config.ts'

export type Precision = 'fp32' | 'fp16' | 'bf16'
export type PrecisionChoice = Precision | 'auto'
export const PRECISIONS: readonly PrecisionChoice[] = ['auto', 'fp32', 'fp16', 'bf16']

export class PrecisionError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'PrecisionError'
  }
}

export const computeDType = (p: Precision): DType => p === 'fp16' ? 'float16' : p === 'bf16' ? 'bfloat16' : 'float32'

/** the precision the checkpoint's linear weights are stored in */
export function checkpointPrecision (ckpt: CheckpointLayout): Precision {
  const dtype = ckpt.weights.get(linearWeightName(0, 'q_proj'))?.dtype
  return dtype === 'F16' ? 'fp16' : dtype === 'BF16' ? 'bf16' : 'fp32'
}

/** Checks a choice coming from a flag or a job recipe (one line naming the flag when wrong). */
export function parsePrecision (v: unknown, where = '--precision'): PrecisionChoice {
  if (typeof v === 'string' && (PRECISIONS as readonly string[]).includes(v)) return v as PrecisionChoice
  throw new PrecisionError(`${where} must be one of ${PRECISIONS.join(', ')}, got ${JSON.stringify(v)}`)
}

/**
 * The compute precision a session runs at. bf16 on the CPU is refused here, in one line, before any graph or
 * session is built: ONNX Runtime's CPU provider has no bfloat16 kernels (its sessions fail with NOT_IMPLEMENTED).
 */
export function resolvePrecision (choice: PrecisionChoice | undefined, device: Device | undefined,
  ckpt: CheckpointLayout): Precision {
  const cpu = (device ?? 'cpu') === 'cpu'
  const p = choice === undefined || choice === 'auto' ? (cpu ? 'fp32' : checkpointPrecision(ckpt)) : choice
  if (p === 'bf16' && cpu) {
    throw new PrecisionError('--precision bf16 needs a GPU (--device cuda): ONNX Runtime\'s CPU provider has no ' +
      'bfloat16 kernels; use --precision fp32 (or fp16) on the CPU')
  }
  return p
}
