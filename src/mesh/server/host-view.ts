/** What a host's proxy is made from: the current dependency file and its services' endpoints. */
import { keys, type HostMeshView, type HostRecord, type ServiceEndpoint } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { jobEndpoints } from './endpoints.ts';
import { currentMesh } from './versions.ts';

/** The prefixes whose changes change a host's view. */
export const HOST_VIEW_PREFIXES = [keys.meshPrefix, keys.tasksPrefix, keys.statusPrefix] as const;

export async function hostMeshView(store: Store): Promise<HostMeshView> {
  const revision = await store.revision();
  const mesh = (await currentMesh(store)) ?? null;
  const names = new Set<string>();
  for (const [name, s] of Object.entries(mesh?.config.services ?? {})) {
    names.add(name);
    for (const u of Object.keys(s.upstreams)) names.add(u);
  }
  const endpoints: Record<string, ServiceEndpoint[]> = {};
  await Promise.all(
    [...names].map(async (n) => {
      endpoints[n] = (await jobEndpoints(store, n)).endpoints;
    }),
  );
  return { revision, mesh, endpoints, hosts: await hostAddresses(store, endpoints) };
}

/** The advertised address (the agent URL's host) of every host running one of `endpoints`. */
async function hostAddresses(
  store: Store,
  endpoints: Record<string, ServiceEndpoint[]>,
): Promise<Record<string, string>> {
  const ids = new Set(Object.values(endpoints).flatMap((es) => es.map((e) => e.host)));
  const out: Record<string, string> = {};
  await Promise.all(
    [...ids].map(async (id) => {
      const kv = await store.get(keys.host(id));
      const url = kv === undefined ? undefined : (JSON.parse(kv.value) as HostRecord).agentUrl;
      if (url !== undefined) out[id] = new URL(url).hostname.replace(/^\[|\]$/g, '');
    }),
  );
  return out;
}
