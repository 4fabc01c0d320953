/** `GET /v1/pools`: pools of hosts with their counts, and the loans between them (docs/elastic.md). */
import { keys, type HostView, type PoolLoan, type PoolSummary, type PoolsView } from '../../model/index.ts';
import { DEFAULT_POOL, effectivePool, ownPool } from '../../scheduler/index.ts';
import type { Store } from '../../store/index.ts';
import type { Router } from '../http/router.ts';
import { rangeJson } from '../state/json.ts';
import { hostViews } from '../state/views.ts';

export function poolsView(hosts: readonly HostView[], loans: readonly PoolLoan[]): PoolsView {
  const byHost = new Map(loans.map((l) => [l.host, l]));
  const pools = new Map<string, PoolSummary>();
  const pool = (name: string): PoolSummary => {
    let p = pools.get(name);
    if (p === undefined) {
      p = {
        name,
        hosts: 0,
        loanedOut: 0,
        loanedIn: 0,
        effective: 0,
        ready: 0,
        capacity: { cpu: 0, memoryBytes: 0, pids: 0 },
      };
      pools.set(name, p);
    }
    return p;
  };
  pool(DEFAULT_POOL);
  for (const h of hosts) {
    const loan = byHost.get(h.id);
    const own = pool(ownPool(h));
    own.hosts++;
    const now = pool(effectivePool(h, loan));
    if (now !== own) {
      own.loanedOut++;
      now.loanedIn++;
    }
    now.effective++;
    if (h.state === 'ready') now.ready++;
    now.capacity.cpu += h.capacity.cpu;
    now.capacity.memoryBytes += h.capacity.memoryBytes;
    now.capacity.pids += h.capacity.pids;
  }
  return {
    pools: [...pools.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    loans: [...loans].sort((a, b) => a.start - b.start || (a.host < b.host ? -1 : 1)),
  };
}

export function poolRoutes(router: Router, store: Store): void {
  router.on('GET', '/v1/pools', async () => {
    const [hosts, loans] = await Promise.all([
      hostViews(store),
      rangeJson<PoolLoan>(store, keys.loansPrefix),
    ]);
    return poolsView(hosts, loans);
  });
}
