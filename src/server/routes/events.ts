import { CompactedError, DabbaError } from '../../errors/index.ts';
import type { DabbaEvent } from '../../model/index.ts';
import { ALL_NAMESPACES, jobId, keys, namespaceOfJobId } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { writeChunk } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { EventLog } from '../state/events.ts';

/**
 * `GET /v1/events?job=J&limit=N`: the newest events, oldest first (JSON array). Only the events of
 * the request's namespace's jobs, and the cluster's that name no job (hosts, images), are shown.
 * `GET /v1/events?follow=1[&job=J][&limit=N][&rev=R]`: server-sent events, one `event` message per
 * event (`data` the event, `id` the store revision it was written at): first the newest N (unless
 * `rev` is given), then each new one as it is written. A client that lost the stream resumes with
 * `rev` = last id + 1; a revision too old answers an `error` message (DABBA_E_COMPACTED): list again.
 */
export function eventRoutes(router: Router, store: Store, events: EventLog): void {
  router.on('GET', '/v1/events', async ({ query, res, signal, namespace }) => {
    const limitText = Number(query.get('limit') ?? 100);
    const limit = Number.isInteger(limitText) && limitText > 0 ? Math.min(limitText, 5000) : 100;
    const jobName = query.get('job') ?? undefined;
    // `job` names a job of the request's namespace (with `*`: a job id, `NS:NAME` or NAME).
    const job = jobName === undefined || namespace === ALL_NAMESPACES ? jobName : jobId(namespace, jobName);
    const visible = (e: DabbaEvent): boolean =>
      (job === undefined || e.job === job) &&
      (namespace === ALL_NAMESPACES || e.job === undefined || namespaceOfJobId(e.job) === namespace);
    const follow = query.get('follow');
    if (follow !== '1' && follow !== 'true')
      return events.list({ limit, namespace, ...(job === undefined ? {} : { job }) });

    const revText = query.get('rev');
    if (revText !== null && !/^\d+$/.test(revText)) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', 'rev must be a non-negative integer', {
        details: { rev: revText },
      });
    }
    let from: number;
    let backlog: DabbaEvent[] = [];
    if (revText !== null) from = Number(revText);
    else {
      const listed = await events.listAt({ limit, namespace, ...(job === undefined ? {} : { job }) });
      backlog = listed.events;
      from = listed.revision + 1;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    const send = (e: DabbaEvent, rev: number): Promise<void> =>
      writeChunk(res, `event: event\nid: ${rev}\ndata: ${JSON.stringify(e)}\n\n`);
    for (const e of backlog) await send(e, from - 1);
    res.write(': following\n\n');
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    res.on('close', () => clearInterval(ping));
    try {
      for await (const batch of store.watch(keys.eventsPrefix, { signal, fromRevision: from })) {
        for (const w of batch) {
          if (w.type !== 'put') continue;
          let e: DabbaEvent;
          try {
            e = JSON.parse(w.kv.value) as DabbaEvent;
          } catch {
            continue;
          }
          if (visible(e)) await send(e, w.kv.modRevision);
        }
      }
    } catch (e) {
      if (!signal.aborted) {
        const body =
          e instanceof CompactedError || e instanceof DabbaError
            ? e.toJSON()
            : { code: 'DABBA_E_INTERNAL', message: 'event stream failed', details: {} };
        res.write(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
      }
    } finally {
      clearInterval(ping);
      res.end();
    }
    return undefined;
  });
}
