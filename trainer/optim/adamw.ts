// AdamW (Loshchilov & Hutter; as torch.optim.AdamW): decoupled weight decay, bias-corrected moments.
// Operates in place on named float32 parameters; the moments persist across steps and can be saved.

export interface AdamWConfig {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
}

export const DEFAULT_ADAMW: AdamWConfig = { lr: 1.5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }

export interface AdamWState {
  step: number
  readonly m: Map<string, Float32Array>
  readonly v: Map<string, Float32Array>
}

export function createAdamWState (): AdamWState {
  return { step: 0, m: new Map(), v: new Map() }
}

/** One update of every parameter with its gradient; `lr` overrides the configured rate (for schedules). */
export function adamwStep (params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>,
  state: AdamWState, cfg: AdamWConfig, lr = cfg.lr): void {
  state.step += 1
  const bc1 = 1 - cfg.beta1 ** state.step
  const bc2 = 1 - cfg.beta2 ** state.step
  const stepSize = lr / bc1
  const decay = 1 - lr * cfg.weightDecay
  const { beta1, beta2, eps } = cfg
  for (const [name, p] of params) {
    const g = grads.get(name)
    if (g === undefined) throw new Error(`adamw: no gradient for ${name}`)
    if (g.length !== p.length) {
      throw new Error(`adamw: gradient of ${name} has ${g.length} values, parameter ${p.length}`)
    }
    let m = state.m.get(name)
    let v = state.v.get(name)
    if (m === undefined || v === undefined) {
      m = new Float32Array(p.length); v = new Float32Array(p.length)
      state.m.set(name, m); state.v.set(name, v)
    }
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]!
      const mi = beta1 * m[i]! + (1 - beta1) * gi
      const vi = beta2 * v[i]! + (1 - beta2) * gi * gi
      m[i] = mi; v[i] = vi
      p[i] = p[i]! * decay - stepSize * mi / (Math.sqrt(vi / bc2) + eps)
    }
  }
}

/** Global L2 norm of all gradients. */
export function globalNorm (grads: ReadonlyMap<string, Float32Array>): number {
  let s = 0
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!
  return Math.sqrt(s)
}

/**
 * Scales gradients in place so their global norm is at most maxNorm (torch's clip_grad_norm_); returns the norm before
 * clipping.
 */
export function clipGradNorm (grads: ReadonlyMap<string, Float32Array>, maxNorm: number): number {
  const norm = globalNorm(grads)
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6)
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = g[i]! * s
  }
  return norm
}
