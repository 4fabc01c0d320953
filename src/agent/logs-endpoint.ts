/**
 * `GET /v1/logs/TASK?follow=1&tail=N&previous=1` on the agent's endpoint: the task's output as NDJSON
 * lines. The previous run's log is served when asked for, or when the task waits to start again (its
 * current run is gone): a crash loop's output is there exactly when it is needed. Which run it is
 * goes in a header (LOG_INSTANCE_HEADER).
 */
import type { ServerResponse } from 'node:http';
import { isDabbaError } from '../errors/index.ts';
import {
  LOG_DROPS_HEADER,
  LOG_GAPS_HEADER,
  LOG_INSTANCE_HEADER,
  type LastExit,
  type LogGap,
  type LogInstance,
} from '../model/index.ts';
import type { LogLine, Runtime } from '../runtime/index.ts';
import { drained, fail } from './endpoint-respond.ts';

/** What the endpoint needs to know of a task on this host (undefined: not here). */
export interface EndpointTask {
  /** Its last run is over and was removed to start again: the log to show is the previous one. */
  betweenRuns: boolean;
  /** How its previous run ended, if it had one. */
  lastExit?: LastExit;
  /** When this host's disk took no writes since its runs began: output written then is missing. */
  logGaps?: LogGap[];
}

function isNotFound(e: unknown): boolean {
  return isDabbaError(e) && e.details['reason'] === 'NotFound';
}

export async function streamLogs(
  runtime: Runtime,
  id: string,
  task: EndpointTask,
  query: URLSearchParams,
  res: ServerResponse,
): Promise<void> {
  const controller = new AbortController();
  res.on('close', () => controller.abort());
  const tail = query.get('tail');
  const requested = query.get('previous') === '1';
  const previous = requested || task.betweenRuns;
  const opts = {
    follow: query.get('follow') === '1' && !previous,
    signal: controller.signal,
    ...(previous ? { previous: true } : {}),
    ...(tail !== null && /^\d{1,9}$/.test(tail) ? { tail: Number(tail) } : {}),
  };
  const lines = runtime.logs(id, opts)[Symbol.asyncIterator]();
  // The first line (or the end) before the answer: a previous run that is not there is a 404.
  let first: IteratorResult<LogLine> | undefined;
  if (previous) {
    try {
      first = await lines.next();
    } catch (e) {
      if (requested || !isNotFound(e))
        return fail(res, 404, 'DABBA_E_NOT_FOUND', `task ${id} has no previous run on this host`);
      first = { done: true, value: undefined };
    }
  }
  const instance: LogInstance | undefined = previous
    ? { instance: 'previous', requested, ...(task.lastExit ? { exit: task.lastExit } : {}) }
    : undefined;
  // What was dropped, counted by a runtime that writes the log itself; else when it may have been.
  const drops = runtime.logDrops
    ? await runtime.logDrops(id, previous ? { previous: true } : {}).catch(() => [])
    : undefined;
  const holes =
    drops === undefined
      ? task.logGaps
        ? { [LOG_GAPS_HEADER]: JSON.stringify(task.logGaps) }
        : {}
      : drops.length > 0
        ? { [LOG_DROPS_HEADER]: JSON.stringify(drops) }
        : {};
  res.writeHead(200, {
    'content-type': 'application/x-ndjson',
    ...(instance ? { [LOG_INSTANCE_HEADER]: JSON.stringify(instance) } : {}),
    ...holes,
  });
  try {
    for (let r = first ?? (await lines.next()); r.done !== true; r = await lines.next()) {
      if (res.destroyed || controller.signal.aborted) break;
      if (!res.write(`${JSON.stringify(r.value)}\n`)) await drained(res);
    }
  } catch {
    // the task was removed meanwhile, or the client went away: the stream just ends
  }
  res.end();
}
