/**
 * avoid-hosts: hosts the ask lists in `avoidHosts` do not take the task (a task rescheduled off a
 * host where it kept crashing must land somewhere else). Applies only to asks that list hosts.
 */
import { listSome, plural } from '../../format.ts';
import type { FilterPlugin } from '../../plugin.ts';

export const avoidHosts: FilterPlugin = {
  name: 'avoid-hosts',
  stage: 'static',
  key: (ask) => (ask.avoidHosts === undefined ? '' : [...new Set(ask.avoidHosts)].sort().join('\u0000')),
  forClass({ ask, fleet }) {
    if (ask.avoidHosts === undefined || ask.avoidHosts.length === 0) return undefined;
    const avoided = new Uint8Array(fleet.size);
    for (const id of ask.avoidHosts) {
      const h = fleet.index.get(id);
      if (h !== undefined) avoided[h] = 1;
    }
    return {
      test: (h) => avoided[h] === 0,
      explain: () => ({ reason: 'avoided for this task' }),
      suggest(onlyThis) {
        const ids = onlyThis.map((h) => fleet.id(h));
        return [
          `${plural(onlyThis.length, 'host')} would fit but ${onlyThis.length === 1 ? 'is' : 'are'} avoided for this task (${listSome(ids)})`,
        ];
      },
    };
  },
};
