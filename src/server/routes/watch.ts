import { CompactedError, DabbaError } from '../../errors/index.ts';
import {
  keys,
  refersToSpec,
  taskFromRecord,
  versionKey,
  versionReaderOf,
  type TaskRecord,
  type WatchEventWire,
} from '../../model/index.ts';
import type { Store, WatchEvent } from '../../store/index.ts';
import { writeChunk } from '../http/respond.ts';
import type { Router } from '../http/router.ts';

function wire(e: WatchEvent): WatchEventWire {
  let value: unknown = null;
  if (e.type === 'put') {
    try {
      value = JSON.parse(e.kv.value);
    } catch {
      value = e.kv.value;
    }
  }
  return {
    type: e.type,
    key: e.kv.key,
    value,
    modRevision: e.kv.modRevision,
    createRevision: e.kv.createRevision,
  };
}

/**
 * Task records (/tasks/, /assign/) refer to their job version's spec (model/task-record.ts): the
 * events carry the task as the API shows it, spec included. An event of a task whose version is
 * gone (a replay of history from before the job was purged) carries no spec: its value is left as
 * stored, which a later event in the same replay deletes.
 */
async function withSpecs(store: Store, events: WatchEventWire[]): Promise<WatchEventWire[]> {
  const wanted = new Map<string, { job: string; version: number }>();
  for (const e of events) {
    const record = taskRecordOf(e);
    if (record !== undefined) wanted.set(versionKey(record.job, record.version), record);
  }
  if (wanted.size === 0) return events;
  const versions = await versionReaderOf(store)([...wanted.values()]);
  return events.map((e) => {
    const record = taskRecordOf(e);
    const task = record && taskFromRecord(record, versions.get(versionKey(record.job, record.version)));
    return task === undefined ? e : { ...e, value: task };
  });
}

/** The event's task record when it is one that refers to its version's spec. */
function taskRecordOf(e: WatchEventWire): TaskRecord | undefined {
  if (e.type !== 'put' || !isTaskKey(e.key) || e.value === null || typeof e.value !== 'object')
    return undefined;
  const record = e.value as TaskRecord;
  return refersToSpec(record) ? record : undefined;
}

const isTaskKey = (key: string): boolean =>
  key.startsWith(keys.tasksPrefix) || key.startsWith(keys.assignmentsPrefix);

/**
 * `GET /v1/watch?prefix=P&rev=R`: server-sent events, one `events` message per store revision, `id`
 * the revision (so a client resumes from id+1). A compacted revision answers an `error` message with
 * code DABBA_E_COMPACTED: re-list and watch again.
 */
export function watchRoutes(router: Router, store: Store): void {
  router.on('GET', '/v1/watch', async ({ query, res, signal }) => {
    const prefix = query.get('prefix') ?? '/';
    if (!prefix.startsWith('/')) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', 'prefix must start with "/"', { details: { prefix } });
    }
    const revText = query.get('rev');
    let fromRevision: number | undefined;
    if (revText !== null) {
      if (!/^\d+$/.test(revText)) {
        throw new DabbaError('DABBA_E_BAD_REQUEST', 'rev must be a non-negative integer', {
          details: { rev: revText },
        });
      }
      fromRevision = Number(revText);
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': watching\n\n');
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    try {
      const opts = fromRevision === undefined ? { signal } : { signal, fromRevision };
      for await (const all of store.watch(prefix, opts)) {
        // Secrets (the CA key) are never served, whatever prefix is watched.
        const batch = all.filter((e) => !e.kv.key.startsWith(keys.secretPrefix));
        if (batch.length === 0) continue;
        const rev = batch[0]?.kv.modRevision ?? 0;
        await writeChunk(
          res,
          `event: events\nid: ${rev}\ndata: ${JSON.stringify({ events: await withSpecs(store, batch.map(wire)) })}\n\n`,
        );
      }
    } catch (e) {
      if (!signal.aborted) {
        const body =
          e instanceof CompactedError || e instanceof DabbaError
            ? e.toJSON()
            : { code: 'DABBA_E_INTERNAL', message: 'watch failed', details: {} };
        res.write(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
      }
    } finally {
      clearInterval(ping);
      res.end();
    }
    return undefined;
  });
}
