/** Timing and statistics helpers of bench/oci-deploy.ts. */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { sleep } from '../../src/lib/index.ts';

/** Epoch milliseconds with sub-millisecond precision (comparable with the agent's `at` fields). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
export function pct(xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
export const median = (xs: number[]): number => pct(xs, 50);
/** The largest finite value (a task whose agent log line came too late counts as missing). */
export const maxOf = (xs: number[]): number => pct(xs, 100);
export const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, host);
    s.setTimeout(500, () => (s.destroy(), r(false)));
    s.once('connect', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });
}

/**
 * When host:port first accepts a connection (tried every `everyMs`: 1 for one task, 5 for many);
 * rejects after 60 s, so a task that never answers fails the run instead of hanging it.
 */
export async function answering(host: string, port: number, everyMs = 1): Promise<number> {
  const deadline = Date.now() + 60_000;
  while (!(await canConnect(host, port))) {
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not answer within 60 s`);
    await sleep(everyMs);
  }
  return now();
}

export async function memoryOf(pid: number): Promise<{ rss: number; pss: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kb = (k: string): number =>
    Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss') };
}
