// Dynamic loss scaling for fp16 training (as torch.cuda.amp.GradScaler): the loss is multiplied by a scale
// before the half-precision backward, so small gradients do not flush to zero, and the gradients divided by it
// after. A step whose gradients overflowed (Inf or NaN) is skipped and the scale halved; after `growthInterval`
// good steps in a row it doubles. Our loss is a token SUM (train-loop divides by the step's tokens afterwards),
// so the logits' gradient is already ~1 per token, not 1/N: the scale starts far below PyTorch's 2^16 (a
// scale near 65504, fp16's largest value, would overflow every step).

export interface LossScaleConfig {
  readonly initial: number
  readonly growthInterval: number
  readonly min: number
  readonly max: number
}

export const DEFAULT_LOSS_SCALE: LossScaleConfig = { initial: 1024, growthInterval: 100, min: 2 ** -14, max: 2 ** 16 }

export class LossScaler {
  private current: number
  private good = 0

  constructor (private readonly cfg: LossScaleConfig = DEFAULT_LOSS_SCALE) {
    this.current = cfg.initial
  }

  get scale (): number { return this.current }

  /** After a step's gradients: whether to apply them (all finite); adjusts the scale for the next step. */
  update (finite: boolean): boolean {
    if (!finite) {
      this.current = Math.max(this.cfg.min, this.current / 2)
      this.good = 0
      return false
    }
    if (++this.good >= this.cfg.growthInterval) {
      this.current = Math.min(this.cfg.max, this.current * 2)
      this.good = 0
    }
    return true
  }
}

/** every value of every gradient is finite */
export function allFinite (grads: Iterable<Float32Array>): boolean {
  for (const g of grads) for (let i = 0; i < g.length; i++) if (!Number.isFinite(g[i]!)) return false
  return true
}
