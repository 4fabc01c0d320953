/**
 * Why a task could not be placed, as data: what the allocator found host by host, grouped. The
 * allocator builds it; the scheduler stores it on the unplaced task (`Task.explanation`); the API,
 * `dabba status` and `dabba plan` show it.
 */
import { formatCpu, formatSize } from '../lib/sizes.ts';

/** Resource amounts a host is short of (only the dimensions that are short). */
export interface Shortfall {
  cpu?: number;
  memoryBytes?: number;
  pids?: number;
}

export interface ReasonCount {
  /** What is wrong with these hosts, e.g. "draining", "too little cpu", "not region=prn". */
  reason: string;
  hosts: number;
  /** A few of them (host ids, in id order). */
  examples: string[];
}

export interface FilterCount {
  filter: string;
  /** Hosts this filter was the first to reject (filters run in order; each host counts once). */
  rejected: number;
  reasons: ReasonCount[];
}

export interface NearFailure {
  filter: string;
  reason: string;
  shortfall?: Shortfall;
}

/** A host that came close: it failed the fewest filters, by the smallest margin. */
export interface NearFit {
  host: string;
  failed: NearFailure[];
}

/** The explanation an unplaced task carries (`Task.explanation`, `TaskRow.explanation`). */
export interface PlacementExplanation {
  /** What the task needs; `ports` only when they must be free on the host (`uniquePorts`). */
  needs: { cpu: number; memoryBytes: number; pids: number; ports: number[] };
  /** Hosts considered: every host of the request. The `rejected` counts of `filters` add up to it. */
  hosts: number;
  /** Every filter that applied to the task, in the order they ran. */
  filters: FilterCount[];
  nearest: NearFit[];
  /** What change would make the task fit, e.g. "needs 4 CPUs; the largest free is 2 on host h3". */
  suggestions: string[];
  /** One line with the gist: the `unplaced` reason of the task. */
  summary: string;
}

/** The allocator's explanation for one task of one job. */
export interface Explanation extends PlacementExplanation {
  job: string;
  task: string;
}

/** The explanation a task record keeps: without the job and task it would only repeat. */
export function placementExplanation(e: PlacementExplanation): PlacementExplanation {
  return {
    needs: e.needs,
    hosts: e.hosts,
    filters: e.filters,
    nearest: e.nearest,
    suggestions: e.suggestions,
    summary: e.summary,
  };
}

/**
 * The explanation as indented lines, below a first line with the summary (for `dabba plan`,
 * `dabba status` and logs): each filter with the hosts it rejected and why, the nearest fits, and
 * what would make the task fit.
 */
export function formatExplanation(e: PlacementExplanation, head: string): string[] {
  const lines = [`${head}: ${e.summary}`];
  for (const f of e.filters) {
    if (f.rejected === 0) continue;
    lines.push(`  ${f.filter}: rejected ${f.rejected} host${f.rejected === 1 ? '' : 's'}`);
    for (const r of f.reasons) {
      const more = r.hosts > r.examples.length ? ', ...' : '';
      lines.push(`    ${r.hosts} ${r.reason} (${r.examples.join(', ')}${more})`);
    }
  }
  if (e.nearest.length > 0) {
    lines.push('  nearest fits:');
    for (const n of e.nearest) {
      const why = n.failed.map((f) => f.reason + shortfallText(f.shortfall)).join('; ');
      lines.push(`    ${n.host}: ${why}`);
    }
  }
  for (const s of e.suggestions) lines.push(`  to fit: ${s}`);
  return lines;
}

function shortfallText(s: Shortfall | undefined): string {
  if (s === undefined) return '';
  const parts: string[] = [];
  if (s.cpu !== undefined) parts.push(`${formatCpu(s.cpu)} cpu`);
  if (s.memoryBytes !== undefined) parts.push(`${formatSize(Math.max(0, Math.round(s.memoryBytes)))} memory`);
  if (s.pids !== undefined) parts.push(`${s.pids} pids`);
  return parts.length === 0 ? '' : ` (short ${parts.join(', ')})`;
}
