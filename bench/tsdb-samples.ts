/**
 * The sample mix for bench/tsdb.ts: what an agent collecting every 10 s would record from a fleet.
 * 40% counters (requests and bytes, rates from idle to thousands per second, following a daily
 * curve), 30% gauges (memory in pages, CPU as a 3-decimal fraction, a few constant), 30% histogram
 * series (10 cumulative buckets plus _sum and _count per histogram). Deterministic (seeded).
 */

export interface SampleSet {
  names: string[];
  labels: Record<string, string>[];
  /** Kind of each series, for per-kind figures. */
  kinds: ('counter' | 'gauge' | 'histogram')[];
  rounds: number;
  /** ts[r * series + s], vs[r * series + s]: all series share each round's timestamp. */
  ts: Float64Array;
  vs: Float64Array;
}

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BUCKETS = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'];
/** Share of observations at or under each bucket bound. */
const CDF = [0.05, 0.2, 0.45, 0.7, 0.85, 0.94, 0.98, 0.995, 0.999, 1];

/**
 * `series` series (rounded to whole histograms) for `rounds` rounds of `intervalMs` from `t0`.
 * jitterMs > 0 moves each host's collection time by up to that many ms either way (per round).
 */
export function generateSamples(
  series: number,
  rounds: number,
  t0: number,
  intervalMs: number,
  jitterMs = 0,
): SampleSet {
  const rnd = mulberry32(7);
  const names: string[] = [];
  const labels: Record<string, string>[] = [];
  const kinds: SampleSet['kinds'] = [];
  const nCounters = Math.round(series * 0.4);
  const nGauges = Math.round(series * 0.3);
  const nHist = Math.max(1, Math.round((series - nCounters - nGauges) / 12));
  const host = (i: number): string => `h${i % 20}`;
  type Step = (r: number, prev: number) => number;
  const steps: Step[] = [];
  const daily = (r: number): number => 1 + 0.5 * Math.sin((r * intervalMs * 2 * Math.PI) / 86_400_000);
  for (let i = 0; i < nCounters; i++) {
    const bytes = i % 4 === 3;
    names.push(bytes ? 'net_bytes_total' : 'http_requests_total');
    labels.push({ host: host(i), task: `t${i}`, job: `job${i % 17}` });
    kinds.push('counter');
    const rate = i % 10 === 0 ? 0 : Math.exp(rnd() * 8 - 2) * (bytes ? 2000 : 1);
    steps.push((r, prev) => prev + Math.floor(rate * (intervalMs / 1000) * daily(r) * (0.7 + 0.6 * rnd())));
  }
  for (let i = 0; i < nGauges; i++) {
    const k = i % 3;
    names.push(k === 0 ? 'memory_bytes' : k === 1 ? 'cpu_usage' : 'memory_limit_bytes');
    labels.push({ host: host(i), task: `t${i}`, job: `job${i % 17}` });
    kinds.push('gauge');
    const base = Math.floor(rnd() * 2e9);
    steps.push(
      k === 0
        ? (_r, prev) =>
            prev === 0
              ? base - (base % 4096)
              : rnd() < 0.3
                ? prev + 4096 * Math.round((rnd() - 0.5) * 64)
                : prev
        : k === 1
          ? (_r, prev) => Math.max(0, Math.round((prev + (rnd() - 0.5) * 0.2) * 1000) / 1000)
          : () => 4 * 1024 ** 3,
    );
  }
  const histSteps: { rate: number; mean: number }[] = [];
  for (let h = 0; h < nHist; h++) {
    const lb = { host: host(h), job: `job${h % 17}`, route: `/r${h}` };
    for (const le of BUCKETS) {
      names.push('request_duration_seconds_bucket');
      labels.push({ ...lb, le });
      kinds.push('histogram');
    }
    names.push('request_duration_seconds_sum', 'request_duration_seconds_count');
    labels.push(lb, lb);
    kinds.push('histogram', 'histogram');
    histSteps.push({ rate: Math.exp(rnd() * 6 - 1), mean: 0.02 + rnd() * 0.1 });
  }
  const n = names.length;
  const ts = new Float64Array(rounds * n);
  const vs = new Float64Array(rounds * n);
  const hostJitter = new Float64Array(20);
  for (let r = 0; r < rounds; r++) {
    if (jitterMs > 0) for (let j = 0; j < 20; j++) hostJitter[j] = Math.round((rnd() * 2 - 1) * jitterMs);
    const o = r * n;
    const po = o - n;
    for (let s = 0; s < nCounters + nGauges; s++) {
      vs[o + s] = steps[s]!(r, r === 0 ? 0 : vs[po + s]!);
    }
    for (let h = 0; h < nHist; h++) {
      const base = nCounters + nGauges + h * 12;
      const { rate, mean } = histSteps[h]!;
      const obs = r === 0 ? 0 : Math.floor(rate * (intervalMs / 1000) * daily(r) * (0.7 + 0.6 * rnd()));
      for (let b = 0; b < 10; b++) {
        vs[o + base + b] = (r === 0 ? 0 : vs[po + base + b]!) + Math.round(obs * CDF[b]!);
      }
      vs[o + base + 10] = (r === 0 ? 0 : vs[po + base + 10]!) + obs * mean * (0.8 + 0.4 * rnd());
      vs[o + base + 11] = vs[o + base + 9]!;
    }
    for (let s = 0; s < n; s++) {
      const hj = jitterMs > 0 ? hostJitter[Number(labels[s]!['host']!.slice(1))]! : 0;
      ts[o + s] = t0 + r * intervalMs + hj;
    }
  }
  return { names, labels, kinds, rounds, ts, vs };
}
