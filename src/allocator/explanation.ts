/**
 * Why a task could not be placed, as data (for the API and `dabba plan`) and as one line (for the
 * task's `unplaced` field).
 */
import { formatExplanation as formatLines, type Explanation } from '../model/explanation.ts';
import { formatNeeds, plural } from './format.ts';

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
  return formatLines(e, `task ${e.task} of ${e.job}`);
}
