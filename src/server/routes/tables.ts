/**
 * Log tables (Scuba style) over the API:
 *   GET  /v1/tables                      the tables, their columns and the caller's row counts
 *   GET  /v1/tables/TABLE/query?where=COL=V&where=...&by=COL&agg=count,p99(x)&since=1h&bucket=1m&limit=N
 *   POST /v1/tables/TABLE/rows           {"rows": [{...}, ...]}: a service's own rows (deployer)
 *   PUT  /v1/tables/TABLE/settings       {"sampleRate": N}: keep 1 row in N (admin)
 *   POST /v1/hosts/HOST/tasklogs         an agent's batch of its tasks' lines (the host itself)
 * Rows carry a namespace: a caller sees (and writes) only its namespace's; `events` rows of the
 * cluster itself (hosts, images; namespace '') are seen by every namespace, as `GET /v1/events` does.
 */
import { z } from 'zod';
import { DabbaError } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { ALL_NAMESPACES, LOG_TABLE_LIMITS, keys, type Task } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { EVENTS_TABLE, TASKLOGS_TABLE, taskLogRow, type LogTables } from '../../telemetry/logtables/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import { parseBody } from '../state/parse.ts';

/** A batch of rows may be larger than other bodies: 4 MiB. */
const ROWS_BODY_BYTES = 4 * 1024 * 1024;
/** Tables Dabba fills itself: no one else writes to them. */
const OWN_TABLES = new Set([EVENTS_TABLE, TASKLOGS_TABLE]);

const rowsSchema = z.object({
  rows: z.array(z.record(z.string(), z.unknown())).max(LOG_TABLE_LIMITS.rowsPerRequest),
});
const settingsSchema = z.object({ sampleRate: z.number().int().min(1).max(1_000_000) });
const taskLogsSchema = z.object({
  lines: z
    .array(
      z.object({
        task: z.string().min(1).max(200),
        job: z.string().min(1).max(200),
        stream: z.enum(['stdout', 'stderr']),
        time: z.number().int().positive(),
        text: z.string().max(LOG_TABLE_LIMITS.lineChars),
      }),
    )
    .max(LOG_TABLE_LIMITS.rowsPerRequest),
  dropped: z.number().int().min(0).optional(),
});

function scopeOf(namespace: string, table: string): { namespace?: string; clusterRows?: boolean } {
  if (namespace === ALL_NAMESPACES) return {};
  return { namespace, ...(table === EVENTS_TABLE ? { clusterRows: true } : {}) };
}

function limitOf(text: string | null): number | undefined {
  if (text === null) return undefined;
  if (!/^\d{1,6}$/.test(text))
    throw new DabbaError('DABBA_E_VALIDATION', `limit must be a positive integer, got "${text}"`);
  return Number(text);
}

export function tableRoutes(router: Router, tables: LogTables, store: Store, logger: Logger): void {
  router.on('GET', '/v1/tables', ({ namespace, signal }) => {
    const scope = namespace === ALL_NAMESPACES ? {} : { namespace, clusterRows: true };
    return tables.list({ ...scope, signal });
  });

  router.on('GET', '/v1/tables/:table/query', ({ params, query, namespace, signal }) => {
    const table = params['table'] ?? '';
    const spec = {
      where: query.getAll('where'),
      by: query.getAll('by'),
      ...(query.get('agg') === null ? {} : { agg: query.get('agg') ?? '' }),
      ...(query.get('since') === null ? {} : { since: query.get('since') ?? '' }),
      ...(query.get('bucket') === null ? {} : { bucket: query.get('bucket') ?? '' }),
    };
    const limit = limitOf(query.get('limit'));
    return tables.query(table, limit === undefined ? spec : { ...spec, limit }, {
      ...scopeOf(namespace, table),
      signal,
    });
  });

  router.on('POST', '/v1/tables/:table/rows', async ({ req, params, namespace }) => {
    const table = params['table'] ?? '';
    if (OWN_TABLES.has(table))
      throw new DabbaError(
        'DABBA_E_FORBIDDEN',
        `table ${table} is written by Dabba itself; write to a table of your own`,
        {
          details: { table },
        },
      );
    if (namespace === ALL_NAMESPACES)
      throw new DabbaError('DABBA_E_VALIDATION', 'rows are written to one namespace: give ?namespace=NS');
    const body = parseBody(rowsSchema, await readJsonBody(req, ROWS_BODY_BYTES), 'rows');
    const r = await tables.insert(table, body.rows, { namespace });
    return { table, received: body.rows.length, written: r.written };
  });

  router.on('PUT', '/v1/tables/:table/settings', async ({ req, params }) => {
    const table = params['table'] ?? '';
    const body = parseBody(settingsSchema, await readJsonBody(req), 'table settings');
    await tables.setSampleRate(table, body.sampleRate);
    return { table, sampleRate: body.sampleRate };
  });

  router.on('POST', '/v1/hosts/:id/tasklogs', async ({ req, params }) => {
    const host = params['id'] ?? '';
    const body = parseBody(taskLogsSchema, await readJsonBody(req, ROWS_BODY_BYTES), 'task log batch');
    // Only lines of tasks assigned to this host, under their own job: a host writes no other's rows.
    const { kvs } = await store.range(keys.hostAssignmentsPrefix(host));
    const assigned = new Map<string, string>();
    for (const kv of kvs) {
      try {
        const t = JSON.parse(kv.value) as Task;
        assigned.set(t.id, t.job);
      } catch {
        // not a task: skip
      }
    }
    const byNamespace = new Map<string, unknown[]>();
    let refused = 0;
    for (const line of body.lines) {
      if (assigned.get(line.task) !== line.job) {
        refused++;
        continue;
      }
      const r = taskLogRow(line, host);
      let rows = byNamespace.get(r.namespace);
      if (!rows) byNamespace.set(r.namespace, (rows = []));
      // The line's own fields first: task, job, host and stream are the agent's, not the line's.
      rows.push({ ...r.row, ...r.fixed });
    }
    let written = 0;
    for (const [namespace, rows] of byNamespace) {
      written += (await tables.insert(TASKLOGS_TABLE, rows, { namespace })).written;
    }
    if (refused > 0 || (body.dropped ?? 0) > 0)
      logger.warn({ host, refused, dropped: body.dropped ?? 0 }, 'task log lines not stored');
    return { written, refused };
  });
}
