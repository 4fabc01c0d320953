/**
 * Builds the explanation for a class that fits nowhere: every filter over every host (not a sample),
 * each host counted once under the first filter that rejects it, the nearest fits, and the
 * suggestions of the filters that alone stand in the way.
 */
import type { Explanation, FilterCount, NearFailure, NearFit, ReasonCount } from '../model/index.ts';
import { summarize } from './explanation.ts';
import type { Fleet } from './fleet.ts';
import type { ClassFilter } from './plugin.ts';
import type { PlacementAsk } from './types.ts';

export interface NamedFilter {
  name: string;
  filter: ClassFilter;
}

/** How many host ids each reason group lists. */
const EXAMPLES = 3;

interface Candidate {
  h: number;
  failures: number;
  distance: number;
  failed: NearFailure[];
}

export function explain(
  fleet: Fleet,
  filters: readonly NamedFilter[],
  ask: PlacementAsk,
  nearestCount: number,
): Explanation {
  const groups = filters.map(() => new Map<string, ReasonCount>());
  const rejected = filters.map(() => 0);
  const onlyThis: number[][] = filters.map(() => []);
  const passing: number[] = [];
  let nearest: Candidate[] = [];

  for (let h = 0; h < fleet.size; h++) {
    const failed: NearFailure[] = [];
    let first = -1;
    let distance = 0;
    for (let i = 0; i < filters.length; i++) {
      const f = filters[i]!;
      if (f.filter.test(h)) continue;
      const r = f.filter.explain(h);
      const nf: NearFailure = { filter: f.name, reason: r.reason };
      if (r.shortfall !== undefined) nf.shortfall = r.shortfall;
      failed.push(nf);
      distance += r.distance ?? 1;
      if (first < 0) {
        first = i;
        rejected[i]!++;
        const g = groups[i]!;
        let rc = g.get(r.reason);
        if (rc === undefined) {
          rc = { reason: r.reason, hosts: 0, examples: [] };
          g.set(r.reason, rc);
        }
        rc.hosts++;
        if (rc.examples.length < EXAMPLES) rc.examples.push(fleet.id(h));
      }
    }
    if (first < 0) {
      passing.push(h);
      continue;
    }
    if (failed.length === 1) onlyThis[first]!.push(h);
    nearest = keepNearest(nearest, { h, failures: failed.length, distance, failed }, nearestCount);
  }

  const counts: FilterCount[] = filters.map((f, i) => ({
    filter: f.name,
    rejected: rejected[i]!,
    reasons: [...groups[i]!.values()].sort((a, b) => b.hosts - a.hosts || (a.reason < b.reason ? -1 : 1)),
  }));
  if (passing.length > 0) {
    // Not reachable with deterministic plugins (the framework tries every candidate before giving
    // up), but the counts must still add up.
    counts.push({
      filter: 'none',
      rejected: passing.length,
      reasons: [
        {
          reason: 'passing every filter',
          hosts: passing.length,
          examples: passing.slice(0, EXAMPLES).map((h) => fleet.id(h)),
        },
      ],
    });
  }

  const suggestions: string[] = [];
  filters.forEach((f, i) => {
    const only = onlyThis[i]!;
    if (only.length > 0 && f.filter.suggest !== undefined) suggestions.push(...f.filter.suggest(only));
  });
  const near: NearFit[] = nearest.map((c) => ({ host: fleet.id(c.h), failed: c.failed }));
  if (suggestions.length === 0) {
    const n = near[0];
    if (fleet.size === 0)
      suggestions.push('register a host (dabba agent) or check that the agents are alive');
    else if (n !== undefined)
      suggestions.push(`the nearest host, ${n.host}, fails ${n.failed.map((f) => f.reason).join(' and ')}`);
  }

  const uniquePorts = ask.uniquePorts === true;
  const e: Omit<Explanation, 'summary'> = {
    job: ask.job,
    task: ask.task,
    needs: {
      cpu: ask.resources.cpu,
      memoryBytes: ask.resources.memoryBytes,
      pids: ask.resources.pids,
      ports: uniquePorts ? (ask.ports ?? []).map((p) => p.port) : [],
    },
    hosts: fleet.size,
    filters: counts,
    nearest: near,
    suggestions,
  };
  return { ...e, summary: summarize(e) };
}

/** The best `limit` candidates: fewest failed filters, then smallest distance, then host order. */
function keepNearest(list: Candidate[], c: Candidate, limit: number): Candidate[] {
  if (limit <= 0) return list;
  const worse = (a: Candidate, b: Candidate): boolean =>
    a.failures > b.failures ||
    (a.failures === b.failures && (a.distance > b.distance || (a.distance === b.distance && a.h > b.h)));
  const last = list[list.length - 1];
  if (list.length >= limit && last !== undefined && !worse(last, c)) return list;
  const out = [...list, c].sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
  return out.slice(0, limit);
}
