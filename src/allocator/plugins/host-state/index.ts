/**
 * host-state: only hosts in state 'ready' take new tasks. Cordoned and draining hosts keep the
 * tasks they have; down hosts are lost.
 */
import { listSome, plural } from '../../format.ts';
import type { FilterPlugin } from '../../plugin.ts';

export const hostState: FilterPlugin = {
  name: 'host-state',
  stage: 'static',
  key: () => '',
  forClass({ fleet }) {
    return {
      test: (h) => fleet.host(h).state === 'ready',
      explain: (h) => ({ reason: fleet.host(h).state }),
      suggest(onlyThis) {
        const hosts = onlyThis.map((h) => `${fleet.id(h)} (${fleet.host(h).state})`);
        return [`${plural(onlyThis.length, 'host')} would fit if ready: ${listSome(hosts)}`];
      },
    };
  },
};
