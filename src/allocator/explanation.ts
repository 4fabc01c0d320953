/**
 * Why a task could not be placed, as data (for the API and `dabba plan`) and as one line (for the
 * task's `unplaced` field).
 */
import { formatCpu, formatNeeds, memory, plural } from './format.ts';

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

export interface Explanation {
  job: string;
  task: string;
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

/** How many reason groups and suggestions the one-line summary shows. */
const SUMMARY_REASONS = 6;
const SUMMARY_SUGGESTIONS = 3;

/**
 * "no host fits cpu 4, memory 64Mi, pids 64: of 1 host, 1 too little cpu; needs 4 CPUs; the largest
 * free is 2 on host h1"
 */
export function summarize(e: Omit<Explanation, 'summary'>): string {
  const head = `no host fits ${formatNeeds(e.needs)}`;
  if (e.hosts === 0) return `${head}: no hosts registered`;
  const groups = e.filters.flatMap((f) => f.reasons);
  const shown = groups.slice(0, SUMMARY_REASONS).map((g) => `${g.hosts} ${g.reason}`);
  if (groups.length > SUMMARY_REASONS) {
    const rest = groups.slice(SUMMARY_REASONS).reduce((n, g) => n + g.hosts, 0);
    shown.push(`${rest} for ${plural(groups.length - SUMMARY_REASONS, 'other reason')}`);
  }
  const tips = e.suggestions.slice(0, SUMMARY_SUGGESTIONS);
  return [`${head}: of ${plural(e.hosts, 'host')}, ${shown.join(', ')}`, ...tips].join('; ');
}

/** The full explanation as indented lines (for `dabba plan` and logs). */
export function formatExplanation(e: Explanation): string[] {
  const lines = [`task ${e.task} of ${e.job}: ${e.summary}`];
  for (const f of e.filters) {
    if (f.rejected === 0) continue;
    lines.push(`  ${f.filter}: rejected ${plural(f.rejected, 'host')}`);
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
  if (s.memoryBytes !== undefined) parts.push(`${memory(s.memoryBytes)} memory`);
  if (s.pids !== undefined) parts.push(`${s.pids} pids`);
  return parts.length === 0 ? '' : ` (short ${parts.join(', ')})`;
}
