/**
 * ports: for tasks that bind their declared ports on the host's own network (`uniquePorts`), a host
 * where one of those ports is already in use does not fit. Off by default: the process runtime maps
 * every declared port to a free host port and each oci task has its own network namespace, so two
 * tasks declaring the same port never clash there. Ports in use come from the request
 * (`options.usedPorts`) plus those taken by `uniquePorts` tasks placed in the same allocation.
 */
import { listSome, plural } from '../../format.ts';
import type { FilterPlugin } from '../../plugin.ts';

export const ports: FilterPlugin = {
  name: 'ports',
  stage: 'monotone',
  forClass({ ask, fleet }) {
    const wanted = ask.uniquePorts === true ? (ask.ports ?? []).map((p) => p.port) : [];
    if (wanted.length === 0) return undefined;
    const busy = (h: number): number[] => wanted.filter((p) => fleet.portInUse(h, p));
    return {
      test(h) {
        for (const p of wanted) if (fleet.portInUse(h, p)) return false;
        return true;
      },
      explain(h) {
        const b = busy(h);
        return { reason: `${b.length === 1 ? 'port' : 'ports'} ${b.join(', ')} in use` };
      },
      suggest(onlyThis) {
        const ids = onlyThis.map((h) => fleet.id(h));
        return [
          `port ${wanted.join(', ')} in use on the ${plural(onlyThis.length, 'host')} that would fit otherwise (${listSome(ids)}): free the port or add hosts`,
        ];
      },
      commit: (h) => fleet.usePorts(h, wanted),
    };
  },
};
