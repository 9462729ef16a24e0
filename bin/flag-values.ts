// Typed values of the training/inference commands' flags, each checked with a one-line error.
import { CliError } from './cli-error.ts'
import type { Flags } from './flags.ts'
import type { Device } from '../trainer/graph/session.ts'
import { DEVICES } from '../trainer/graph/session.ts'
import { LINEAR_MODULES } from '../trainer/model/config.ts'
import type { LinearModule, LlamaCheckpoint } from '../trainer/model/config.ts'
import type { Precision } from '../trainer/model/precision.ts'
import { parsePrecision, PrecisionError, resolvePrecision } from '../trainer/model/precision.ts'
import type { QuantizeOptions } from '../trainer/model/quantized-weights.ts'
import { quantizeCacheDir } from '../trainer/model/quantized-weights.ts'
import { DEFAULT_BLOCK_SIZE, parseQuantize, QuantizeError } from '../trainer/model/quantize.ts'

export function required (f: Flags, name: string, what: string): string {
  const v = f.strings.get(name)
  if (v === undefined) throw new CliError(`--${name} ${what} is required`, 2)
  return v
}

export function numberFlag (f: Flags, name: string,
  o: { min?: number, max?: number, integer?: boolean } = {}): number | undefined {
  const raw = f.strings.get(name)
  if (raw === undefined) return undefined
  const v = Number(raw)
  const bad = raw.trim() === '' || !Number.isFinite(v) || (o.integer === true && !Number.isSafeInteger(v)) ||
    (o.min !== undefined && v < o.min) || (o.max !== undefined && v > o.max)
  if (bad) {
    const range = o.min !== undefined && o.max !== undefined ? ` in [${o.min}, ${o.max}]` : o.min !== undefined
      ? ` >= ${o.min}` : ''
    throw new CliError(`--${name} must be ${o.integer === true ? 'an integer' : 'a number'}${range}, got '${raw}'`, 2)
  }
  return v
}

export function deviceFlag (f: Flags): Device {
  const d = f.strings.get('device') ?? 'cpu'
  if (!(DEVICES as readonly string[]).includes(d)) {
    throw new CliError(`--device must be one of ${DEVICES.join(', ')}, got '${d}'`, 2)
  }
  return d as Device
}

export function targetsFlag (f: Flags): LinearModule[] | undefined {
  const raw = f.strings.get('targets')
  if (raw === undefined) return undefined
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const n of names) {
    if (!(LINEAR_MODULES as readonly string[]).includes(n)) {
      throw new CliError(`--targets: '${n}' is not one of ${LINEAR_MODULES.join(', ')}`, 2)
    }
  }
  if (names.length === 0) throw new CliError('--targets needs at least one module', 2)
  return LINEAR_MODULES.filter((m) => names.includes(m))
}

export function choiceFlag<T extends string> (f: Flags, name: string, choices: readonly T[], dflt: T): T {
  const v = f.strings.get(name) ?? dflt
  if (!(choices as readonly string[]).includes(v)) {
    throw new CliError(`--${name} must be one of ${choices.join(', ')}, got '${v}'`, 2)
  }
  return v as T
}

/**
 * --precision auto|fp32|fp16|bf16 resolved for this device and checkpoint (trainer/model/precision.ts): a wrong
 * value, or bf16 on the CPU, is one line before any session is built.
 */
export function precisionFlag (f: Flags, device: Device, ckpt: LlamaCheckpoint): Precision {
  try {
    return resolvePrecision(parsePrecision(f.strings.get('precision') ?? 'auto'), device, ckpt)
  } catch (err) { throw err instanceof PrecisionError ? new CliError(err.message, 2) : err }
}

/** --quantize int8|int4|none: block-quantized frozen linear weights (trainer/model/quantize.ts), fp32 compute only */
export function quantizeFlag (f: Flags, precision: Precision): QuantizeOptions | undefined {
  let bits
  try { bits = parseQuantize(f.strings.get('quantize')) } catch (err) {
    throw err instanceof QuantizeError ? new CliError(err.message, 2) : err
  }
  if (bits === undefined) return undefined
  if (precision !== 'fp32') throw new CliError(`--quantize needs fp32 compute, not --precision ${precision}`, 2)
  return { bits, blockSize: DEFAULT_BLOCK_SIZE }
}

/** the line a command shows before it builds quantized sessions (the first run of a model quantizes it: minutes) */
export const quantizeNote = (q: QuantizeOptions): string => `base weights: int${q.bits}, blocks of ${q.blockSize} ` +
  `(codes of a model folder cached in ${quantizeCacheDir()}; its first run quantizes it, minutes at 7B)`
