// Text generation with a KV cache: one decode graph, fed the prompt once (prefill) and then one token per step.
import ort from 'onnxruntime-node'
import type { Adapter } from '../lora/adapter.ts'
import type { SessionOptions } from '../graph/session.ts'
import { createSession } from '../graph/session.ts'
import type { LlamaCheckpoint } from './config.ts'
import { buildDecodeGraph, pastName, presentName } from './graphs.ts'
import { sampleToken, seededRandom } from './sampler.ts'
import { adapterFeeds } from './feeds.ts'
import { defaultThreads } from './threads.ts'
import { fusedOn } from './sessions.ts'
import type { PrecisionChoice } from './precision.ts'
import { resolvePrecision } from './precision.ts'
import type { QuantizeOptions } from './quantized-weights.ts'

export interface GenerateOptions {
  readonly maxTokens: number
  /** 0 (default) = greedy */
  readonly temperature?: number
  readonly topP?: number
  readonly seed?: number
  /** stop when this id is produced (default: the model's EOS; null = never) */
  readonly stopId?: number | null
  /** called with each new id as it is chosen */
  readonly onToken?: (id: number) => void
}

export class Generator {
  private constructor (
    private readonly session: ort.InferenceSession,
    private readonly ckpt: LlamaCheckpoint,
    private readonly loraFeeds: Record<string, ort.Tensor>,
    private readonly cacheDType: 'float32' | 'float16'
  ) {}

  /**
   * Builds the decode graph (with the adapter's LoRA inputs when given) and its session. Without an explicit
   * thread count a small model decodes on one thread (see threads.ts).
   */
  static async create (ckpt: LlamaCheckpoint, o: SessionOptions & { adapter?: Adapter,
    precision?: PrecisionChoice, quantize?: QuantizeOptions } = {}): Promise<Generator> {
    const graph = buildDecodeGraph(ckpt, { lora: o.adapter?.config, fused: fusedOn(o.device),
      precision: resolvePrecision(o.precision, o.device, ckpt), quantize: o.quantize })
    const threads = defaultThreads(ckpt.config, 'decode', o.threads)
    const session = await createSession(graph.model, { ...o, threads })
    return new Generator(session, ckpt, o.adapter !== undefined ? adapterFeeds(graph.lora, o.adapter) : {},
      graph.cacheDType ?? 'float32')
  }

  /** Generated ids only (the prompt is not repeated); the prompt should start with BOS. */
  async generate (prompt: readonly number[], o: GenerateOptions): Promise<number[]> {
    if (prompt.length === 0) throw new Error('generate: the prompt needs at least one id (BOS)')
    const c = this.ckpt.config
    const hd = c.dim / c.nHeads
    const random = seededRandom(o.seed ?? 0)
    const stop = o.stopId === undefined ? c.eosId : o.stopId
    const past: Record<string, ort.Tensor> = {}
    for (let l = 0; l < c.nLayers; l++) {
      for (const part of ['key', 'value'] as const) {
        const empty = this.cacheDType === 'float16' ? new Uint16Array(0) : new Float32Array(0)
        past[pastName(l, part)] = new ort.Tensor(this.cacheDType, empty, [1, c.nKvHeads, 0, hd])
      }
    }
    const out: number[] = []
    let step = [...prompt]
    let seen = 0
    while (out.length < o.maxTokens && seen + step.length <= c.maxSeqLen) {
      seen += step.length
      const r = await this.session.run({
        ...past,
        ...this.loraFeeds,
        input_ids: new ort.Tensor('int64', BigInt64Array.from(step, BigInt), [1, step.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(seen).fill(1n), [1, seen])
      })
      for (let l = 0; l < c.nLayers; l++) {
        for (const part of ['key', 'value'] as const) past[pastName(l, part)] = r[presentName(l, part)]!
      }
      const id = sampleToken(r.logits!.data as Float32Array, { temperature: o.temperature ?? 0, topP: o.topP ?? 1 },
        random)
      out.push(id)
      o.onToken?.(id)
      if (id === stop) break
      step = [id]
    }
    return out
  }

  async release (): Promise<void> {
    await this.session.release()
  }
}
