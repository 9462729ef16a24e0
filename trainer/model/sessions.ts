// Running the train and eval graphs: what the trainer calls. Feeds an Adapter by PEFT name, returns the summed
// loss, the token count and the gradients (of the SUM loss) as Tensors under the same PEFT names.
import ort from 'onnxruntime-node'
import type { Tensor } from '../tensor.ts'
import type { Adapter, LoraConfig } from '../lora/adapter.ts'
import type { SessionOptions } from '../graph/session.ts'
import { createSession } from '../graph/session.ts'
import type { LlamaCheckpoint } from './config.ts'
import type { LlamaGraph } from './graphs.ts'
import { buildEvalGraph, buildTrainGraph, gradName, LOSS_SCALE } from './graphs.ts'
import type { PrecisionChoice } from './precision.ts'
import { resolvePrecision } from './precision.ts'
import type { QuantizeOptions } from './quantized-weights.ts'
import type { TokenBatch } from './feeds.ts'
import { adapterFeeds, batchFeeds, padSeqTo } from './feeds.ts'
import { defaultThreads } from './threads.ts'
import { dropoutMasks } from '../lora/dropout-masks.ts'
import { WorkerClient } from '../worker/rpc.ts'
import type { MicroBatchJob } from '../train/step-runner.ts'

export interface TrainResult {
  /** sum of token cross-entropies over labels != -100 */
  readonly lossSum: number
  /** number of labels != -100 */
  readonly tokens: number
  /** d lossSum / d tensor, by PEFT name (divide by the total tokens of all accumulated micro-batches) */
  readonly grads: Map<string, Tensor>
}

export interface TrainSessionOptions extends SessionOptions {
  /** LoRA dropout during training (default true when the config's dropout > 0); run() then takes a seed */
  readonly dropout?: boolean
  /** query blocks of the causal attention (graphs.ATTENTION_CHUNKS by default; 1 = the whole square) */
  readonly attentionChunks?: number
  /** compute precision (precision.ts; default auto) */
  readonly precision?: PrecisionChoice
  /** per-layer activation recomputation: less memory at long sequences, one more forward per step */
  readonly recompute?: boolean
  /** block-quantized frozen linear weights (quantize.ts): forward and backward on ORT's MatMulNBits */
  readonly quantize?: QuantizeOptions
}

export class TrainSession {
  /** with LoRA dropout: a helper thread that draws the masks of later runs (see prefetchDropout) */
  private maskWorker?: WorkerClient
  private readonly prefetched = new Map<string, Promise<Map<string, Uint8Array>>>()

  private constructor (private readonly session: ort.InferenceSession, readonly graph: LlamaGraph) {}

  static async create (ckpt: LlamaCheckpoint, lora: LoraConfig, o: TrainSessionOptions = {}): Promise<TrainSession> {
    const graph = buildTrainGraph(ckpt, { lora, dropout: o.dropout ?? lora.dropout > 0, fused: fusedOn(o.device),
      attentionChunks: o.attentionChunks, precision: resolvePrecision(o.precision, o.device, ckpt),
      recompute: o.recompute, quantize: o.quantize })
    return new TrainSession(await createSession(graph.model,
      { ...o, threads: defaultThreads(ckpt.config, 'batch', o.threads) }), graph)
  }

  /** PEFT names of the trainable tensors, in graph order */
  get names (): string[] { return this.graph.lora.map((s) => s.name) }

  /** true for fp16 graphs: runs take a loss scale (train-loop's LossScaler) */
  get lossScaling (): boolean { return this.graph.lossScale === true }

  /**
   * With LoRA dropout, `dropoutSeed` fixes the run's masks (dropout-masks.ts): a function of it alone. fp16 graphs
   * differentiate loss_sum times `lossScale` (default 1); the gradients come back divided by it (Inf or NaN where
   * the scaled half-precision backward overflowed).
   */
  async run (batch: TokenBatch, adapter: Adapter, dropoutSeed?: number, lossScale = 1): Promise<TrainResult> {
    const b = padSeqTo(batch, this.graph.minSeq ?? 1)
    const scale: Record<string, ort.Tensor> = this.graph.lossScale === true
      ? { [LOSS_SCALE]: new ort.Tensor('float32', Float32Array.of(lossScale), []) }
      : {}
    const r = await this.session.run({ ...batchFeeds(b), ...adapterFeeds(this.graph.lora, adapter),
      ...await this.maskFeeds(batch, b.seq, dropoutSeed), ...scale })
    const grads = new Map<string, Tensor>()
    const inv = this.graph.lossScale === true ? 1 / lossScale : 1
    for (const s of this.graph.lora) {
      const data = r[gradName(s.name)]!.data as Float32Array
      if (inv !== 1) for (let i = 0; i < data.length; i++) data[i]! *= inv
      grads.set(s.name, { shape: s.value.shape as number[], data })
    }
    return { lossSum: Number(r.loss_sum!.data[0]), tokens: Number(r.token_count!.data[0]), grads }
  }

  /**
   * A step's micro-batches one after another (the StepRunner contract, train/step-runner.ts): while each runs, a
   * helper thread draws the dropout masks of the one after it (or of `next`, the following step's first).
   */
  async runStep (jobs: readonly MicroBatchJob[], adapter: Adapter, take: (k: number, r: TrainResult) => void,
    next?: MicroBatchJob): Promise<void> {
    for (let k = 0; k < jobs.length; k++) {
      const after = k + 1 < jobs.length ? jobs[k + 1] : next
      if (after !== undefined) this.prefetchDropout(after.batch, after.dropoutSeed)
      take(k, await this.run(jobs[k]!.batch, adapter, jobs[k]!.dropoutSeed, jobs[k]!.lossScale))
    }
  }

  /**
   * Starts drawing, in a helper thread, the dropout masks of a later run of a batch of this shape with this
   * seed, so that run finds them ready instead of drawing them first (session.run blocks this thread: only
   * another thread can draw while it computes). Without dropout, nothing. The masks are the same either way.
   */
  prefetchDropout (shape: Pick<TokenBatch, 'batch' | 'seq'>, seed: number): void {
    const d = this.graph.dropout
    if (d === undefined) return
    const rows = shape.batch * shape.seq
    const key = `${seed}/${rows}`
    if (this.prefetched.has(key)) return
    this.maskWorker ??= new WorkerClient(new URL('../lora/mask-worker.ts', import.meta.url), undefined, false)
    const masks = this.maskWorker.call<Map<string, Uint8Array>>('masks', { seed, rows, sites: d.sites, p: d.p })
    masks.catch(() => {}) // run() draws them itself then
    this.prefetched.set(key, masks)
    if (this.prefetched.size > 4) this.prefetched.delete(this.prefetched.keys().next().value!) // never taken
  }

  /**
   * The masks of the batch as given, laid out for its rows padded to `seq` positions: the padding (masked out as
   * keys, outside the loss) keeps every unit, so a sequence trains the same whether or not its batch was padded.
   */
  private async maskFeeds (b: TokenBatch, seq: number, seed: number | undefined): Promise<Record<string, ort.Tensor>> {
    const d = this.graph.dropout
    if (d === undefined) return {}
    if (seed === undefined) throw new RangeError('this train session applies LoRA dropout: run() needs a dropout seed')
    const rows = b.batch * b.seq
    const key = `${seed}/${rows}`
    const ready = this.prefetched.get(key)
    this.prefetched.delete(key)
    const masks = (ready !== undefined ? await ready.catch(() => undefined) : undefined) ??
      dropoutMasks(seed, rows, d.sites, d.p)
    return Object.fromEntries(d.sites.map((s) => [s.name,
      new ort.Tensor('bool', padRows(masks.get(s.name)!, b, seq, s.cols), [b.batch * seq, s.cols])]))
  }

  async release (): Promise<void> {
    this.prefetched.clear()
    // not awaited: the helper holds the process open only while a call is pending, and awaiting the exit of
    // such a thread let the event loop run dry under node's test runner
    this.maskWorker?.close().catch(() => {})
    await this.session.release()
  }
}

/** [batch * b.seq, cols] keep-masks as [batch * seq, cols], each example's rows followed by kept padding rows */
function padRows (m: Uint8Array, b: TokenBatch, seq: number, cols: number): Uint8Array {
  if (seq === b.seq) return m
  const out = new Uint8Array(b.batch * seq * cols).fill(1)
  for (let r = 0; r < b.batch; r++) out.set(m.subarray(r * b.seq * cols, (r + 1) * b.seq * cols), r * seq * cols)
  return out
}

/**
 * Opset-23 fused forward ops (eval, decode) on the CPU provider, where ORT 1.30 implements them and the test
 * suite checks them; other providers get the standard-op graphs they are known to run.
 */
export const fusedOn = (device: SessionOptions['device']): boolean => (device ?? 'cpu') === 'cpu'

export interface EvalResult {
  /** per example: summed token loss and token count */
  readonly lossSum: Float32Array
  readonly tokens: Float32Array
}

export class EvalSession {
  private constructor (private readonly session: ort.InferenceSession, readonly graph: LlamaGraph) {}

  /** With `lora`, every run needs an adapter of that config; without, the base model is evaluated. */
  static async create (ckpt: LlamaCheckpoint, o: SessionOptions & { lora?: LoraConfig,
    attentionChunks?: number, precision?: PrecisionChoice, quantize?: QuantizeOptions } = {}): Promise<EvalSession> {
    const graph = buildEvalGraph(ckpt, { lora: o.lora, fused: fusedOn(o.device), attentionChunks: o.attentionChunks,
      precision: resolvePrecision(o.precision, o.device, ckpt), quantize: o.quantize })
    return new EvalSession(await createSession(graph.model,
      { ...o, threads: defaultThreads(ckpt.config, 'batch', o.threads) }), graph)
  }

  async run (batch: TokenBatch, adapter?: Adapter): Promise<EvalResult> {
    if (this.graph.lora.length > 0 && adapter === undefined) {
      throw new Error('this eval session was built for an adapter: pass one')
    }
    const feeds = { ...batchFeeds(padSeqTo(batch, this.graph.minSeq ?? 1)),
      ...(adapter !== undefined && this.graph.lora.length > 0 ? adapterFeeds(this.graph.lora, adapter) : {}) }
    const r = await this.session.run(feeds)
    return { lossSum: r.loss_sum!.data as Float32Array, tokens: r.token_count!.data as Float32Array }
  }

  async release (): Promise<void> { await this.session.release() }
}
