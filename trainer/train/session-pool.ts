// What one thread holds for training and evaluation: checkpoints and tokenizers loaded once per model path,
// and ONNX Runtime sessions shared by every trainer of the same model, LoRA config, device and thread count.
// Sharing is what lets one worker serve many simulated peers in the memory of one model. Train sessions with
// LoRA dropout are shared too: each run takes its masks from the seed it is given (dropout-masks.ts).
import type { LlamaCheckpoint } from '../model/config.ts'
import type { LoraConfig } from '../lora/adapter.ts'
import type { Device } from '../graph/session.ts'
import { loadCheckpoint } from '../checkpoint/load.ts'
import { loadTokenizerFor, type Tokenizer } from '../tokenizer.ts'
import { EvalSession, TrainSession } from '../model/sessions.ts'
import type { PrecisionChoice } from '../model/precision.ts'
import type { QuantizeOptions } from '../model/quantized-weights.ts'

export interface SessionSettings {
  readonly device?: Device
  readonly threads?: number
  readonly precision?: PrecisionChoice
  /** train sessions: per-layer activation recomputation */
  readonly recompute?: boolean
  /** block-quantized frozen linear weights */
  readonly quantize?: QuantizeOptions
}

interface Shared<T> { value: Promise<T>, users: number }

export class SessionPool {
  private readonly models = new Map<string, { ckpt: LlamaCheckpoint, tok: Tokenizer }>()
  private readonly train = new Map<string, Shared<TrainSession>>()
  private readonly evals = new Map<string, Shared<EvalSession>>()

  model (path: string): { ckpt: LlamaCheckpoint, tok: Tokenizer } {
    let m = this.models.get(path)
    if (m === undefined) {
      const ckpt = loadCheckpoint(path)
      m = { ckpt, tok: loadTokenizerFor(path, ckpt.config.vocabSize) }
      this.models.set(path, m)
    }
    return m
  }

  /** A shared train session (with the config's LoRA dropout); give it back with releaseTrain(same arguments). */
  async acquireTrain (path: string, lora: LoraConfig, s: SessionSettings): Promise<TrainSession> {
    return await this.acquire(this.train, key(path, lora, s), () => TrainSession.create(this.model(path).ckpt, lora, s))
  }

  async releaseTrain (path: string, lora: LoraConfig, s: SessionSettings): Promise<void> {
    await this.release(this.train, key(path, lora, s))
  }

  async acquireEval (path: string, lora: LoraConfig | undefined, s: SessionSettings): Promise<EvalSession> {
    return await this.acquire(this.evals, evalKey(path, lora, s),
      () => EvalSession.create(this.model(path).ckpt, { device: s.device, threads: s.threads, precision: s.precision,
        quantize: s.quantize, lora }))
  }

  async releaseEval (path: string, lora: LoraConfig | undefined, s: SessionSettings): Promise<void> {
    await this.release(this.evals, evalKey(path, lora, s))
  }

  /** train and eval sessions held now */
  get sessions (): number { return this.train.size + this.evals.size }

  private async acquire<T> (map: Map<string, Shared<T>>, k: string, make: () => Promise<T>): Promise<T> {
    let e = map.get(k)
    if (e === undefined) {
      e = { value: make(), users: 0 }
      map.set(k, e)
      e.value.catch(() => map.delete(k))
    }
    e.users++
    return await e.value
  }

  private async release<T extends { release: () => Promise<void> }> (map: Map<string, Shared<T>>,
    k: string): Promise<void> {
    const e = map.get(k)
    if (e === undefined) return
    if (--e.users > 0) return
    map.delete(k)
    await (await e.value).release()
  }
}

function key (path: string, lora: LoraConfig | undefined, s: SessionSettings): string {
  return JSON.stringify([path, lora ?? null, s.device ?? 'cpu', s.threads ?? 0, s.precision ?? 'auto',
    s.recompute === true, s.quantize ?? null])
}
/** an eval session does not recompute (it keeps no activations): trainers with and without share one */
const evalKey = (path: string, lora: LoraConfig | undefined, s: SessionSettings): string =>
  key(path, lora, { ...s, recompute: undefined })
