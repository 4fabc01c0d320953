/**
 * host-state: only hosts in state 'ready' without a reported condition (DiskFull, DiskPressure, ClockSkew, RuntimeBroken,
 * DiskReadOnly) take new tasks. Cordoned and draining hosts, and hosts with a condition, keep the
 * tasks they have; down hosts are lost.
 */
import type { HostView } from '../../../model/index.ts';
import { listSome, plural } from '../../format.ts';
import type { FilterPlugin } from '../../plugin.ts';

/** Why a host takes no new task: its state when not ready, else its first condition. */
function notReady(h: HostView): string | undefined {
  if (h.state !== 'ready') return h.state;
  return h.conditions?.[0]?.type;
}

export const hostState: FilterPlugin = {
  name: 'host-state',
  stage: 'static',
  key: () => '',
  forClass({ fleet }) {
    return {
      test: (h) => notReady(fleet.host(h)) === undefined,
      explain: (h) => ({ reason: notReady(fleet.host(h)) ?? 'ready' }),
      suggest(onlyThis) {
        const hosts = onlyThis.map((h) => `${fleet.id(h)} (${notReady(fleet.host(h)) ?? 'ready'})`);
        return [`${plural(onlyThis.length, 'host')} would fit if ready: ${listSome(hosts)}`];
      },
    };
  },
};
