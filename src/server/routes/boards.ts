/**
 * Dashboards kept in the control plane (docs/ui.md): `GET /v1/boards` (the namespace's boards;
 * `*`: every namespace's), `GET/PUT/DELETE /v1/boards/NAME`, namespaced by `?namespace=` like jobs.
 * A board is one store record; a write with `version` is refused (409) if the board moved on since.
 */
import { z } from 'zod';
import { principalName } from '../../auth/index.ts';
import { DabbaError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import {
  ALL_NAMESPACES,
  BOARD_LIMITS,
  BOARD_NAME_RE,
  keys,
  type Board,
  type BoardQuery,
  type MetricsAgg,
} from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import { parseBody } from '../state/parse.ts';

const metricName = z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,255}$/, 'a Prometheus metric name');
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/, 'a label name');

const boardQuerySchema = z.strictObject({
  name: metricName,
  where: z.array(z.string().min(1).max(1024)).max(BOARD_LIMITS.whereClauses).optional(),
  by: z.array(labelName).max(BOARD_LIMITS.byLabels).optional(),
  rate: z.boolean().optional(),
  agg: z
    .string()
    .regex(/^(sum|avg|max|min|count|p\d{1,2}(\.\d{1,3})?)$/, 'sum, avg, max, min, count or pNN')
    .optional(),
  over: z.enum(['avg', 'min', 'max', 'sum', 'count']).optional(),
});

export const putBoardSchema = z.strictObject({
  title: z.string().trim().min(1, 'a board needs a title').max(BOARD_LIMITS.title),
  panels: z
    .array(
      z.strictObject({
        title: z.string().trim().min(1, 'a panel needs a title').max(BOARD_LIMITS.title),
        query: boardQuerySchema,
        quantile: z.number().gt(0).lt(1).optional(),
      }),
    )
    .max(BOARD_LIMITS.panels),
  version: z.number().int().positive().optional(),
});

/** The parsed query with its absent fields left out (not present as undefined). */
function boardQuery(q: z.output<typeof boardQuerySchema>): BoardQuery {
  const out: BoardQuery = { name: q.name };
  if (q.where !== undefined) out.where = q.where;
  if (q.by !== undefined) out.by = q.by;
  if (q.rate !== undefined) out.rate = q.rate;
  if (q.agg !== undefined) out.agg = q.agg as MetricsAgg;
  if (q.over !== undefined) out.over = q.over;
  return out;
}

function boardName(raw: string | undefined): string {
  const name = raw ?? '';
  if (!BOARD_NAME_RE.test(name)) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `"${name}" is not a board name: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63`,
      { details: { name } },
    );
  }
  return name;
}

function oneNamespace(ns: string): string {
  if (ns === ALL_NAMESPACES)
    throw new DabbaError('DABBA_E_BAD_REQUEST', 'a board belongs to one namespace: name it (not *)');
  return ns;
}

function notFound(ns: string, name: string): DabbaError {
  return new DabbaError('DABBA_E_NOT_FOUND', `no board "${name}" in namespace "${ns}"`, {
    details: { namespace: ns, name },
  });
}

export function boardRoutes(router: Router, store: Store, clock: Clock): void {
  router.on('GET', '/v1/boards', async ({ namespace }) => {
    const prefix = namespace === ALL_NAMESPACES ? keys.allBoardsPrefix : keys.boardsPrefix(namespace);
    const { kvs } = await store.range(prefix);
    return kvs.map((kv) => JSON.parse(kv.value) as Board);
  });

  router.on('GET', '/v1/boards/:name', async ({ params, namespace }) => {
    const ns = oneNamespace(namespace);
    const name = boardName(params['name']);
    const kv = await store.get(keys.board(ns, name));
    if (kv === undefined) throw notFound(ns, name);
    return JSON.parse(kv.value) as Board;
  });

  router.on('PUT', '/v1/boards/:name', async ({ req, params, namespace, principal }) => {
    const ns = oneNamespace(namespace);
    const name = boardName(params['name']);
    const body = parseBody(putBoardSchema, await readJsonBody(req), 'board');
    const key = keys.board(ns, name);
    const old = await store.get(key);
    const current = old === undefined ? 0 : (JSON.parse(old.value) as Board).version;
    if (body.version !== undefined && body.version !== current) {
      throw new DabbaError(
        'DABBA_E_CONFLICT',
        `board "${name}" is at version ${current}, not ${body.version}: someone saved it meanwhile; load it again`,
        { details: { name, namespace: ns, version: current } },
      );
    }
    const board: Board = {
      name,
      namespace: ns,
      title: body.title,
      panels: body.panels.map((p) => ({
        title: p.title,
        query: boardQuery(p.query),
        ...(p.quantile === undefined ? {} : { quantile: p.quantile }),
      })),
      version: current + 1,
      updatedAt: clock.now(),
      author: principalName(principal),
    };
    // Written only if nobody wrote it since it was read (else: the same 409 as above).
    const r = await store.txn({
      compare: [{ key, target: 'mod', op: '=', modRevision: old?.modRevision ?? 0 }],
      success: [{ type: 'put', key, value: JSON.stringify(board) }],
    });
    if (!r.succeeded) {
      throw new DabbaError('DABBA_E_CONFLICT', `board "${name}" changed while it was saved; load it again`, {
        details: { name, namespace: ns },
      });
    }
    return board;
  });

  router.on('DELETE', '/v1/boards/:name', async ({ params, namespace }) => {
    const ns = oneNamespace(namespace);
    const name = boardName(params['name']);
    const r = await store.delete(keys.board(ns, name));
    if (r.deleted === 0) throw notFound(ns, name);
    return { name, namespace: ns, deleted: true };
  });
}
