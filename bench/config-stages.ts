/**
 * Where a config change's time goes, for the distribution benchmarks: the server's and the agents'
 * logs at level info carry epoch-ms stamps of each step (`config version published` from the
 * distributor, `config updated` from each host), and the bench adds its own (put sent, put
 * answered, the task's file seen). Per subscription, each step is given as ms after its put was
 * sent; per host and config, the metadata's arrival is split by the host's depth in the tree.
 */
import { readFileSync } from 'node:fs';
import { pct, table } from './report.ts';

interface Published {
  storedAt: number;
  sentAt: number;
}
interface Updated {
  depth: number;
  metaAt: number;
  startAt: number;
  fetchedAt: number;
  /** When the host's write pass for it began (after the passes queued before it). */
  passAt: number;
  writtenAt: number;
  /** When each upstream sent it on (the distributor first, then each forwarding host). */
  trace: number[];
  /** The receiving host's longest event-loop delay in the last one to two seconds. */
  loopMaxMs: number;
}

const key = (path: string, version: number): string => `${path}@${version}`;

function lines(file: string): Record<string, unknown>[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const l of text.split('\n')) {
    if (!l.includes('"config version published"') && !l.includes('"config updated"')) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      // a line cut by the log's rotation or a write in progress
    }
  }
  return out;
}

/** The stamps found in the logs: per config version, and per host and config version. */
export class StageLogs {
  readonly published = new Map<string, Published>();
  readonly updated = new Map<string, Map<string, Updated>>();

  constructor(serverLog: string, agentLogs: { host: string; file: string }[]) {
    for (const r of lines(serverLog)) {
      if (r['msg'] !== 'config version published') continue;
      this.published.set(key(String(r['config']), Number(r['version'])), {
        storedAt: Number(r['storedAt']),
        sentAt: Number(r['sentAt']),
      });
    }
    for (const { host, file } of agentLogs) {
      const m = new Map<string, Updated>();
      this.updated.set(host, m);
      for (const r of lines(file)) {
        if (r['msg'] !== 'config updated' || typeof r['metaAt'] !== 'number') continue;
        m.set(key(String(r['config']), Number(r['version'])), {
          depth: Number(r['depth']),
          metaAt: Number(r['metaAt']),
          startAt: Number(r['startAt']),
          fetchedAt: Number(r['fetchedAt']),
          passAt: Number(r['passAt'] ?? r['fetchedAt']),
          writtenAt: Number(r['writtenAt']),
          trace: Array.isArray(r['trace']) ? (r['trace'] as unknown[]).map(Number) : [],
          loopMaxMs: Number(r['loopMaxMs'] ?? NaN),
        });
      }
    }
  }
}

/** One subscription's change as the bench saw it (epoch ms). */
export interface Sample {
  host: string;
  path: string;
  version: number;
  putSentAt: number;
  putAnsweredAt: number;
  seenAt: number;
}

const STEPS = [
  'version stored (in the put)',
  'put answered',
  'distributor sent metadata',
  'host has metadata',
  'host starts fetch',
  'host has content',
  'write pass starts',
  'task files written',
  'bench sees the file',
] as const;

/** Prints, per step, p50/p99/max of ms after the put was sent; and the metadata's arrival by depth. */
export function printStages(title: string, logs: StageLogs, samples: readonly Sample[]): void {
  const at: number[][] = STEPS.map(() => []);
  const byDepth = new Map<number, number[]>();
  let missing = 0;
  const hostSeen = new Set<string>();
  const hops = new HopTimes();
  for (const s of samples) {
    const p = logs.published.get(key(s.path, s.version));
    const u = logs.updated.get(s.host)?.get(key(s.path, s.version));
    if (p === undefined || u === undefined) {
      missing++;
      continue;
    }
    const row = [
      p.storedAt,
      s.putAnsweredAt,
      p.sentAt,
      u.metaAt,
      u.startAt,
      u.fetchedAt,
      u.passAt,
      u.writtenAt,
      s.seenAt,
    ];
    row.forEach((t, i) => at[i]?.push(t - s.putSentAt));
    const hk = `${s.host}\0${key(s.path, s.version)}`;
    if (!hostSeen.has(hk)) {
      hostSeen.add(hk);
      hops.add(u);
      let d = byDepth.get(u.depth);
      if (d === undefined) byDepth.set(u.depth, (d = []));
      d.push(u.metaAt - p.sentAt);
    }
  }
  const fmt = (xs: number[]): string[] => {
    xs.sort((a, b) => a - b);
    return [pct(xs, 50).toFixed(0), pct(xs, 99).toFixed(0), (xs.at(-1) ?? NaN).toFixed(0)];
  };
  table(
    `${title}: ms after the put was sent, per subscription${missing > 0 ? ` (${missing} without log stamps)` : ''}`,
    ['step', 'p50', 'p99', 'max'],
    STEPS.map((name, i) => [name, ...fmt(at[i] ?? [])]),
  );
  table(
    `${title}: ms from the distributor's send to the host's metadata, per host and config, by depth`,
    ['depth', 'samples', 'p50', 'p99', 'max'],
    [...byDepth.entries()].sort((a, b) => a[0] - b[0]).map(([d, xs]) => [String(d), xs.length, ...fmt(xs)]),
  );
  hops.print(title, fmt);
}

/**
 * Per hop of the metadata down the tree, from the trace each version carries (every sender's stamp)
 * and the receiving host's own: hop k is from the stamp of the sender at depth k-1 (the distributor
 * for k = 0) to the receipt at depth k, so it holds the sender's write, the wire and the time the
 * receiver's event loop was busy elsewhere (its longest recent delay is printed beside it).
 */
class HopTimes {
  readonly #hop = new Map<number, number[]>();
  readonly #lag = new Map<number, number[]>();

  add(u: Updated): void {
    // Each host logs its own receipt, so its last hop is counted once (the hops above it are its
    // ancestors' last hops).
    const k = u.trace.length - 1;
    const sent = u.trace[k];
    if (sent === undefined) return;
    push(this.#hop, k, u.metaAt - sent);
    if (Number.isFinite(u.loopMaxMs)) push(this.#lag, k, u.loopMaxMs);
  }

  print(title: string, fmt: (xs: number[]) => string[]): void {
    if (this.#hop.size === 0) return;
    table(
      `${title}: ms per hop of the metadata (sender's stamp to receipt), and the receivers' loop delay`,
      ['hop into depth', 'samples', 'p50', 'p99', 'max', 'loop delay p50', 'loop delay p99', 'max'],
      [...this.#hop.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([k, xs]) => [String(k), xs.length, ...fmt(xs), ...fmt(this.#lag.get(k) ?? [])]),
    );
  }
}

function push(m: Map<number, number[]>, k: number, v: number): void {
  let xs = m.get(k);
  if (xs === undefined) m.set(k, (xs = []));
  xs.push(v);
}
