import { CompactedError, DabbaError } from '../../errors/index.ts';
import {
  keys,
  refersToSpec,
  taskFromRecord,
  versionKey,
  versionReaderOf,
  type JobVersionRecord,
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
 * events carry the task as the API shows it, spec included. The version records read are kept for
 * the stream's next events (`seen`): a kept record serves a task only if it is the version the task
 * names (same `createdAt`), so a job purged and deployed again is read afresh. An event of a task
 * whose version is gone (a replay of history from before the job was purged) carries no spec: its
 * value is left as stored, and a later event of the same replay deletes it.
 */
async function withSpecs(
  store: Store,
  events: WatchEventWire[],
  seen: Map<string, JobVersionRecord>,
): Promise<WatchEventWire[]> {
  const wanted = new Map<string, { job: string; version: number }>();
  let any = false;
  for (const e of events) {
    const record = taskRecordOf(e);
    if (record === undefined) continue;
    any = true;
    const key = versionKey(record.job, record.version);
    if (seen.get(key)?.createdAt !== record.specAt) wanted.set(key, record);
  }
  if (!any) return events;
  if (wanted.size > 0) {
    for (const [key, v] of await versionReaderOf(store)([...wanted.values()])) seen.set(key, v);
    // A stream's jobs come and go: keep the versions of a bounded number.
    while (seen.size > MAX_KEPT_VERSIONS) seen.delete(seen.keys().next().value ?? '');
  }
  return events.map((e) => {
    const record = taskRecordOf(e);
    const task = record && taskFromRecord(record, seen.get(versionKey(record.job, record.version)));
    return task === undefined ? e : { ...e, value: task };
  });
}

/** Version records a watch stream keeps for its next events. */
const MAX_KEPT_VERSIONS = 256;

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
      'x-accel-buffering': 'no',
    });
    res.write(': watching\n\n');
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    const versions = new Map<string, JobVersionRecord>();
    try {
      const opts = fromRevision === undefined ? { signal } : { signal, fromRevision };
      for await (const all of store.watch(prefix, opts)) {
        // Secrets (the CA key) are never served, whatever prefix is watched.
        const batch = all.filter((e) => !e.kv.key.startsWith(keys.secretPrefix));
        if (batch.length === 0) continue;
        const rev = batch[0]?.kv.modRevision ?? 0;
        await writeChunk(
          res,
          `event: events\nid: ${rev}\ndata: ${JSON.stringify({ events: await withSpecs(store, batch.map(wire), versions) })}\n\n`,
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
