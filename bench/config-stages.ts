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
  writtenAt: number;
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
          writtenAt: Number(r['writtenAt']),
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
  'task files written',
  'bench sees the file',
] as const;

/** Prints, per step, p50/p99/max of ms after the put was sent; and the metadata's arrival by depth. */
export function printStages(title: string, logs: StageLogs, samples: readonly Sample[]): void {
  const at: number[][] = STEPS.map(() => []);
  const byDepth = new Map<number, number[]>();
  let missing = 0;
  const hostSeen = new Set<string>();
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
      u.writtenAt,
      s.seenAt,
    ];
    row.forEach((t, i) => at[i]?.push(t - s.putSentAt));
    const hk = `${s.host}\0${key(s.path, s.version)}`;
    if (!hostSeen.has(hk)) {
      hostSeen.add(hk);
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
}
