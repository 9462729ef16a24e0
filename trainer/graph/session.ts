// ONNX Runtime sessions for built models: device -> execution provider, threads, full graph optimisation,
// and external weight files found through their common folder. Errors come out as one clear line.
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
}

/** Where onnxruntime-node keeps its native libraries (providers are shared libraries beside the binding). */
function bindingDir (): string {
  const req = createRequire(import.meta.url)
  return join(dirname(req.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch)
}

/** Throws DeviceUnavailableError when `device` cannot run here (checked before ORT prints its own noise). */
export function checkDevice (device: Device): void {
  if (!DEVICES.includes(device)) throw new DeviceUnavailableError(`unknown device '${String(device)}' (choose ${DEVICES.join(', ')})`)
  if (device === 'cuda' && !existsSync(join(bindingDir(), 'libonnxruntime_providers_cuda.so'))) {
    throw new DeviceUnavailableError("device 'cuda' is not available: onnxruntime-node's CUDA provider (libonnxruntime_providers_cuda.so) is not installed; see the README's GPU section, or use --device cpu")
  }
}

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
  if (model.externalFolder !== undefined) {
    options.extra = { session: { model_external_initializers_file_folder_path: model.externalFolder } }
  }
  try {
    return await ort.InferenceSession.create(model.bytes, options)
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!
    if (/external data/i.test(msg)) {
      throw new ExternalDataError(`ONNX Runtime cannot read the weight files in ${model.externalFolder ?? '?'} in place (${msg.slice(0, 160)}); copy the model folder without links (cp -rL MODEL COPY, or hardlinks: cp -rlL) and use the copy`)
    }
    if (device !== 'cpu') throw new DeviceUnavailableError(`device '${device}' is not available: ${msg.slice(0, 200)}`)
    throw e
  }
}
