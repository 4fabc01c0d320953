/**
 * `GET /v1/mesh/stats[?service=S]`: every host's proxy's stats, asked of its agent (as host history
 * is) and added up per caller and upstream and per task; with `service`, the rows where it is the
 * caller or the upstream. Hosts whose agent runs no proxy are left out; those that do not answer
 * are listed with why, and the sums are of the others.
 */
import { messageOf } from '../../errors/index.ts';
import {
  keys,
  rowOfService,
  sumDenied,
  sumRows,
  type HostMeshStats,
  type HostRecord,
  type MeshStatsView,
} from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { agentTarget, withDispatcher } from '../agent-connection.ts';
import type { Router } from '../http/router.ts';
import type { ServerPki } from '../pki.ts';

const ASK_TIMEOUT_MS = 5000;

type Answer = { host: string; stats?: HostMeshStats; error?: string; none?: true };

async function ask(
  store: Store,
  pki: ServerPki | undefined,
  host: HostRecord,
  signal: AbortSignal,
): Promise<Answer> {
  try {
    const target = await agentTarget(store, pki, host);
    const res = await fetch(
      `${target.base}/v1/mesh/stats`,
      withDispatcher(
        { signal: AbortSignal.any([signal, AbortSignal.timeout(ASK_TIMEOUT_MS)]) },
        target.dispatcher,
      ),
    );
    const body: unknown = await res.json().catch(() => ({}));
    if (res.status === 404) return { host: host.id, none: true };
    if (!res.ok) {
      const m = (body as { message?: unknown }).message;
      return { host: host.id, error: typeof m === 'string' ? m : `HTTP ${String(res.status)}` };
    }
    return { host: host.id, stats: body as HostMeshStats };
  } catch (e) {
    return { host: host.id, error: messageOf(e) };
  }
}

export function meshStatsRoutes(router: Router, store: Store, pki?: ServerPki): void {
  router.on('GET', '/v1/mesh/stats', async ({ query, signal }): Promise<MeshStatsView> => {
    const service = query.get('service') ?? undefined;
    const [records, alive] = await Promise.all([
      store.range(keys.hostsPrefix),
      store.range(keys.alivePrefix),
    ]);
    const up = new Set(alive.kvs.map((kv) => kv.key.slice(keys.alivePrefix.length)));
    const hosts = records.kvs.map((kv) => JSON.parse(kv.value) as HostRecord).filter((h) => h.agentUrl);
    // A host that is down is not asked (its agent would not answer before the deadline).
    const answers = await Promise.all(
      hosts.map((h): Promise<Answer> =>
        up.has(h.id)
          ? ask(store, pki, h, signal)
          : Promise.resolve({ host: h.id, error: 'the host is down' }),
      ),
    );
    const keep = (r: { caller: string; upstream: string }): boolean =>
      service === undefined || rowOfService(r, service);
    const ok = answers.flatMap((a) => (a.stats ? [a.stats] : []));
    return {
      ...(service === undefined ? {} : { service }),
      hosts: answers
        .filter((a) => a.none !== true)
        .map((a) => ({ host: a.host, ok: a.stats !== undefined, ...(a.error ? { error: a.error } : {}) })),
      upstreams: sumRows(ok.flatMap((s) => s.upstreams).filter(keep)),
      tasks: sumRows(ok.flatMap((s) => s.tasks).filter(keep)),
      denied: sumDenied(ok.flatMap((s) => s.denied ?? []).filter(keep)),
    };
  });
}
