/**
 * `GET /v1/history?at=MS&step=nearest|prev|next` on the agent's endpoint: the host-history snapshot
 * nearest `at` (epoch ms), or the one just before or after it (see telemetry/hosthistory).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HistoryStep, HostHistorySnapshot } from '../model/index.ts';
import { fail, send } from './endpoint-respond.ts';

export type HistoryQuery = (at: number, step: HistoryStep) => HostHistorySnapshot | undefined;

export function serveHistory(
  history: HistoryQuery | undefined,
  req: IncomingMessage,
  query: URLSearchParams,
  res: ServerResponse,
): void {
  if (req.method !== 'GET')
    return fail(res, 405, 'DABBA_E_METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here`);
  if (!history) return fail(res, 404, 'DABBA_E_NOT_FOUND', 'this agent does not record host history');
  const at = Number(query.get('at') ?? '');
  if (!Number.isFinite(at))
    return fail(res, 400, 'DABBA_E_BAD_REQUEST', 'at must be a time in epoch milliseconds');
  const step = query.get('step') ?? 'nearest';
  if (step !== 'nearest' && step !== 'prev' && step !== 'next')
    return fail(res, 400, 'DABBA_E_BAD_REQUEST', 'step must be nearest, prev or next');
  const snapshot = history(at, step);
  if (!snapshot)
    return fail(
      res,
      404,
      'DABBA_E_NOT_FOUND',
      step === 'nearest'
        ? 'no host history recorded yet'
        : `no snapshot ${step === 'prev' ? 'before' : 'after'} that one`,
    );
  send(res, 200, snapshot);
}
