/**
 * distinct-hosts: at most one task of the job per host (when the ask says `distinctHosts`). Counts
 * the job's existing tasks and those placed in the same allocation.
 */
import { listSome, plural } from '../../format.ts';
import type { FilterPlugin } from '../../plugin.ts';

export const distinctHosts: FilterPlugin = {
  name: 'distinct-hosts',
  stage: 'monotone',
  forClass({ ask, fleet, job }) {
    if (ask.distinctHosts !== true) return undefined;
    return {
      test: (h) => job.onHost(h) === 0,
      explain: () => ({ reason: `already running ${job.name}` }),
      suggest(onlyThis) {
        const ids = onlyThis.map((h) => fleet.id(h));
        return [
          `each of the ${plural(onlyThis.length, 'host')} that would fit already runs a task of ${job.name} (${listSome(ids)}): add hosts or allow several tasks per host`,
        ];
      },
    };
  },
};
