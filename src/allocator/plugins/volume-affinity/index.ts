/**
 * volume-affinity: a task whose slot's volumes are on a host goes back to that host, and nowhere
 * else (docs/volumes.md). Applies only to asks with `volumeHost`; the scheduler leaves it out when
 * that host is down, draining or gone (the task then gets fresh volumes wherever it fits).
 */
import type { FilterPlugin } from '../../plugin.ts';

export const volumeAffinity: FilterPlugin = {
  name: 'volume-affinity',
  stage: 'static',
  key: (ask) => ask.volumeHost ?? '',
  forClass({ ask, fleet }) {
    const wanted = ask.volumeHost;
    if (wanted === undefined) return undefined;
    const h0 = fleet.index.get(wanted);
    return {
      test: (h) => h === h0,
      explain: () => ({ reason: `not ${wanted}, which holds the task's volumes` }),
      suggest: () =>
        h0 === undefined
          ? [`the task's volumes are on host ${wanted}, which is not known`]
          : [
              `the task's volumes are on host ${wanted}: it goes back there once ${wanted} has room and takes tasks`,
            ],
    };
  },
};
