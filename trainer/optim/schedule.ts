// Learning-rate schedules: linear warm-up, then constant, linear or cosine decay to zero (HF's
// get_*_schedule_with_warmup).

export type ScheduleKind = 'constant' | 'linear' | 'cosine'

export interface Schedule {
  readonly kind: ScheduleKind
  readonly warmupSteps: number
  readonly totalSteps: number
}

/** Learning rate for 0-based optimizer step `step`. */
export function lrAt (baseLr: number, s: Schedule, step: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return baseLr * (step + 1) / s.warmupSteps
  if (s.kind === 'constant') return baseLr
  const span = Math.max(1, s.totalSteps - s.warmupSteps)
  const progress = Math.min(1, Math.max(0, (step - s.warmupSteps) / span))
  if (s.kind === 'linear') return baseLr * (1 - progress)
  return baseLr * 0.5 * (1 + Math.cos(Math.PI * progress))
}
