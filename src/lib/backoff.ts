/** Exponential backoff with a cap and optional jitter (randomness injected). */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** 0..1: fraction of the delay that is randomised. */
  jitter?: number;
}

export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = () => 0.5,
): number {
  const factor = opts.factor ?? 2;
  const base = Math.min(opts.maxMs, opts.initialMs * factor ** Math.max(0, attempt));
  const jitter = opts.jitter ?? 0;
  return Math.round(base * (1 - jitter + 2 * jitter * random()));
}
