/**
 * `GET /v1/hosts/ID/history?at=TIME&step=nearest|prev|next`: the host-history snapshot of a host
 * nearest a time (ISO-8601, epoch ms, `now`, or relative like `-30s`), or the one before or after
 * it. The server proxies it from that host's agent, which records it (as it does `dabba logs`).
 */
import { DabbaError, NotFoundError, UnavailableError, ValidationError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import type { HostRecord } from '../../model/index.ts';
import { keys, parseHistoryTime } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { agentTarget, withDispatcher } from '../agent-connection.ts';
import type { Router } from '../http/router.ts';
import type { ServerPki } from '../pki.ts';
import { getJson } from '../state/json.ts';

export function hostHistoryRoutes(router: Router, store: Store, clock: Clock, pki?: ServerPki): void {
  router.on('GET', '/v1/hosts/:id/history', async ({ params, query, signal }) => {
    const id = params['id'] ?? '';
    const atText = query.get('at') ?? 'now';
    const at = parseHistoryTime(atText, clock.now());
    if (!at.ok) throw new ValidationError(`at: ${at.error}`, [{ path: 'at', message: at.error }]);
    const step = query.get('step') ?? 'nearest';
    if (step !== 'nearest' && step !== 'prev' && step !== 'next')
      throw new ValidationError('step must be nearest, prev or next', [
        { path: 'step', message: 'nearest, prev or next' },
      ]);
    const host = await getJson<HostRecord>(store, keys.host(id));
    if (!host) throw new NotFoundError('host', id);
    const target = await agentTarget(store, pki, host.value);
    let upstream: Response;
    try {
      upstream = await fetch(
        `${target.base}/v1/history?at=${at.ms}&step=${step}`,
        withDispatcher({ signal }, target.dispatcher),
      );
    } catch (cause) {
      throw new UnavailableError(`cannot reach the agent of host ${id} for its history`, { cause });
    }
    const text = await upstream.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = {};
    }
    if (upstream.ok) return body;
    const message = (body as { message?: unknown }).message;
    if (upstream.status === 404)
      throw new DabbaError(
        'DABBA_E_NOT_FOUND',
        `host ${id}: ${typeof message === 'string' ? message : 'no history there'}`,
      );
    throw new UnavailableError(
      typeof message === 'string' ? message : `the agent of host ${id} answered HTTP ${upstream.status}`,
    );
  });
}
