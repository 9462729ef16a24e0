// ONNX Runtime sessions for built models: device -> execution provider, threads, full graph optimisation,
// and external weight files found through their common folder. Errors come out as one clear line.
// Models with half-precision weights keep them half: ORT's ConstantFolding and
// FuseFp16InitializerToFp32NodeTransformer would turn each Cast of a weight into a private fp32 copy (770 MiB a
// layer at 7B, twice in a train graph), and CommonSubexpressionElimination would merge the forward's and the
// backward's casts into one tensor alive from one to the other (composites.castLinear). The list is
// ';'-separated: ORT 1.30 silently ignores a comma list. The CPU arena is off for them too, so the transient
// widened weights go back to the system after each Gemm instead of growing a pool the size of the largest.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import ort from 'onnxruntime-node'
import type { BuiltModel } from './graph.ts'
import { DeviceUnavailableError, ExternalDataError } from './errors.ts'

export type Device = 'cpu' | 'cuda' | 'webgpu'
export const DEVICES: readonly Device[] = ['cpu', 'cuda', 'webgpu']

export interface SessionOptions {
  readonly device?: Device
  /** intra-op threads (0 or absent: ORT's default, one per core) */
  readonly threads?: number
  /** false turns off the memory pattern planner (helps when shapes change every run) */
  readonly memPattern?: boolean
  /** diagnostics: ORT writes the model it runs, after its graph optimisations, to this file */
  readonly optimizedModelPath?: string
}

/** Where onnxruntime-node keeps its native libraries (providers are shared libraries beside the binding). */
function bindingDir (): string {
  const req = createRequire(import.meta.url)
  return join(dirname(req.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch)
}

/** Throws DeviceUnavailableError when `device` cannot run here (checked before ORT prints its own noise). */
export function checkDevice (device: Device): void {
  if (!DEVICES.includes(device)) {
    throw new DeviceUnavailableError(`unknown device '${String(device)}' (choose ${DEVICES.join(', ')})`)
  }
  if (device === 'cuda' && !existsSync(join(bindingDir(), 'libonnxruntime_providers_cuda.so'))) {
    throw new DeviceUnavailableError("device 'cuda' is not available: onnxruntime-node's CUDA provider " +
      "(libonnxruntime_providers_cuda.so) is not installed; see the README's GPU section, or use --device cpu")
  }
}

/** ORT graph transformers that would widen half-precision weights into resident copies (see the header) */
export const HALF_WEIGHT_DISABLED_OPTIMIZERS = [
  'ConstantFolding', 'FuseFp16InitializerToFp32NodeTransformer', 'CommonSubexpressionElimination'
] as const

export async function createSession (model: BuiltModel, o: SessionOptions = {}): Promise<ort.InferenceSession> {
  const device = o.device ?? 'cpu'
  checkDevice(device)
  const options: ort.InferenceSession.SessionOptions & { extra?: Record<string, unknown> } = {
    executionProviders: device === 'cpu' ? ['cpu'] : [device, 'cpu'],
    graphOptimizationLevel: 'all',
    interOpNumThreads: 1,
    enableMemPattern: o.memPattern ?? true
  }
  if (o.threads !== undefined && o.threads > 0) options.intraOpNumThreads = o.threads
  if (o.optimizedModelPath !== undefined) options.optimizedModelFilePath = o.optimizedModelPath
  const extra: Record<string, Record<string, string>> = {}
  if (model.externalFolder !== undefined) {
    extra.session = { model_external_initializers_file_folder_path: model.externalFolder }
  }
  if (model.halfWeights) {
    extra.optimization = { disable_specified_optimizers: HALF_WEIGHT_DISABLED_OPTIMIZERS.join(';') }
    options.enableCpuMemArena = false
  }
  if (Object.keys(extra).length > 0) options.extra = extra
  try {
    return await ort.InferenceSession.create(model.bytes, options)
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!
    if (/external data/i.test(msg)) {
      throw new ExternalDataError(`ONNX Runtime cannot read the weight files in ${model.externalFolder ?? '?'} ` +
        `in place (${msg.slice(0, 160)}); copy the model folder without links (cp -rL MODEL COPY, or hardlinks: ` +
        'cp -rlL) and use the copy')
    }
    if (device !== 'cpu') throw new DeviceUnavailableError(`device '${device}' is not available: ${msg.slice(0, 200)}`)
    throw e
  }
}
