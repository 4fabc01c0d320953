/** One request to a job's TaskControl controller: POST the request, read `{ "ack": [...] }`. */
import { messageOf } from '../errors/index.ts';
import {
  parseTaskControlResponse,
  type TaskControlRequest,
  type TaskControlResponse,
} from '../model/index.ts';

export type ControllerAnswer = { ok: true; response: TaskControlResponse } | { ok: false; error: string };

/** Largest answer read from a controller. */
const MAX_ANSWER_BYTES = 1 << 20;

export async function callController(
  url: string,
  request: TaskControlRequest,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ControllerAnswer> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const both = signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: both,
    });
    const text = await res.text();
    if (!res.ok) return { ok: false, error: `controller answered HTTP ${res.status}` };
    if (text.length > MAX_ANSWER_BYTES) return { ok: false, error: 'controller answer too large' };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, error: 'controller answer is not JSON' };
    }
    const response = parseTaskControlResponse(body);
    if (response === undefined) return { ok: false, error: 'controller answer is not { "ack": [ids] }' };
    return { ok: true, response };
  } catch (e) {
    if (timeout.aborted) return { ok: false, error: `controller did not answer within ${timeoutMs} ms` };
    return { ok: false, error: `controller unreachable: ${messageOf(e)}` };
  }
}
