import type { VersionView } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { Router } from '../http/router.ts';
import { hostViews } from '../state/views.ts';

/** `GET /v1/version`: the server's version, its store, and the runtimes its hosts run tasks with. */
export function versionRoutes(router: Router, store: Store, storeName: string, version: string): void {
  router.on('GET', '/v1/version', async (): Promise<VersionView> => {
    const hosts = await hostViews(store);
    const byRuntime = new Map<string, { hosts: number; up: number }>();
    for (const h of hosts) {
      const r = byRuntime.get(h.runtime) ?? { hosts: 0, up: 0 };
      r.hosts++;
      if (h.state !== 'down') r.up++;
      byRuntime.set(h.runtime, r);
    }
    return {
      version,
      store: storeName,
      revision: await store.revision(),
      runtimes: [...byRuntime]
        .map(([runtime, n]) => ({ runtime, ...n }))
        .sort((a, b) => a.runtime.localeCompare(b.runtime)),
    };
  });
}
