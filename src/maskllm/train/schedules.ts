// MaskLLM's schedules, all functions of the fraction t = step / steps of the run (maskllm.md §1, §3, §4):
// τ and κ linear, the regulariser weight λ decays linearly to 0 (code-only detail), the learning rate is cosine.

export interface Range {
  start: number;
  end: number;
}

export function progress(step: number, steps: number): number {
  return steps <= 0 ? 0 : Math.min(1, Math.max(0, step / steps));
}

export function linear({ start, end }: Range, t: number): number {
  return start + (end - start) * t;
}

/** Cosine decay from max to min over the run, no warmup (MaskLLM uses warmup 0). */
export function cosineLr(max: number, min: number, t: number): number {
  return min + 0.5 * (max - min) * (1 + Math.cos(Math.PI * t));
}

export interface ScheduleOptions {
  tau: Range;
  kappa: Range;
  lambda: number;
  lr: number;
  lrMin: number;
}

export interface ScheduleValues {
  tau: number;
  kappa: number;
  lambda: number;
  lr: number;
}

export function scheduleAt(o: ScheduleOptions, step: number, steps: number): ScheduleValues {
  const t = progress(step, steps);
  return { tau: linear(o.tau, t), kappa: linear(o.kappa, t), lambda: o.lambda * (1 - t), lr: cosineLr(o.lr, o.lrMin, t) };
}
