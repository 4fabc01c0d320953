/**
 * The API client's task and store streams: store watches, exec (streamed and interactive) and task
 * logs.
 * One link of the chain of classes DabbaClient is built from (see client.ts).
 */
import { DabbaError, UnavailableError } from '../errors/index.ts';
import {
  LOG_INSTANCE_HEADER,
  type LogDrop,
  type LogGap,
  type LogInstance,
  type WatchEventWire,
  type ExecSpec,
} from '../model/index.ts';
import { openExec, type ExecConnection } from './exec-upgrade.ts';
import { logHoleNotes } from './log-holes.ts';
import { errorFromBody, ndjson, parseResponse } from './responses.ts';
import { readSse } from './sse.ts';
import { certificateErrorCode, untrustedServerError } from './tls.ts';
import { TelemetryMethods } from './telemetry-methods.ts';

export class StreamMethods extends TelemetryMethods {
  /**
   * Streams store events under prefix from revision `rev` (inclusive). Yields batches (one per
   * revision). Throws DabbaError DABBA_E_COMPACTED when rev is too old: re-list and watch again.
   */
  async *watch(
    prefix: string,
    rev: number | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEventWire[]> {
    const q = new URLSearchParams({ prefix });
    if (rev !== undefined) q.set('rev', String(rev));
    const res = await this.request('GET', `/v1/watch?${q.toString()}`, { signal, stream: true });
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    try {
      for await (const msg of readSse(res.body, signal)) {
        if (msg.event === 'error') throw errorFromBody(JSON.parse(msg.data), 410);
        if (msg.event === 'events') yield (JSON.parse(msg.data) as { events: WatchEventWire[] }).events;
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
  }

  /**
   * Runs a command in a task (`POST /v1/tasks/ID/exec`): yields its output as it comes, then one
   * `{exit}`. Aborting the signal ends the command.
   */
  async *exec(
    taskId: string,
    command: string[],
    signal: AbortSignal,
  ): AsyncGenerator<{ stream: 'stdout' | 'stderr'; data: Uint8Array } | { exit: number }> {
    const res = await this.request('POST', this.namespaced(`/v1/tasks/${encodeURIComponent(taskId)}/exec`), {
      body: { command },
      signal,
      stream: true,
    });
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    for await (const line of ndjson(res.body as AsyncIterable<Uint8Array>)) {
      const o = JSON.parse(line) as { stream?: string; data?: string; exit?: number; error?: string };
      if (typeof o.exit === 'number') {
        yield { exit: o.exit };
        return;
      }
      if (o.error !== undefined) throw new DabbaError('DABBA_E_UNAVAILABLE', `exec in ${taskId}: ${o.error}`);
      if (o.data !== undefined)
        yield { stream: o.stream === 'stderr' ? 'stderr' : 'stdout', data: Buffer.from(o.data, 'base64') };
    }
    throw new DabbaError('DABBA_E_UNAVAILABLE', `exec in ${taskId}: the stream ended before the exit code`);
  }

  /**
   * Runs a command in a task interactively (`dabba exec -i/-t`): an HTTP/1.1 Upgrade of
   * `POST /v1/tasks/ID/exec` to the exec stream (model/exec-stream.ts). Refusals throw the server's
   * typed error; unreachable servers are failed over as for other requests.
   */
  async execInteractive(taskId: string, spec: ExecSpec, signal: AbortSignal): Promise<ExecConnection> {
    let lastError: unknown;
    for (let i = 0; i < this.addrs.length; i++) {
      const idx = (this.currentIndex + i) % this.addrs.length;
      const base = this.addrs[idx] ?? '';
      let outcome;
      try {
        outcome = await openExec(base, taskId, spec, this.requestHeaders(), this.tls, signal);
      } catch (e) {
        if (signal.aborted) throw e;
        const tlsCode = certificateErrorCode(e);
        if (tlsCode !== undefined) throw untrustedServerError(base, tlsCode, this.tls.ca !== undefined, e);
        lastError = e;
        continue;
      }
      if ('connection' in outcome) {
        this.currentIndex = idx;
        return outcome.connection;
      }
      if (outcome.status === 503 && i < this.addrs.length - 1) continue;
      let body: unknown;
      try {
        body = JSON.parse(outcome.body);
      } catch {
        body = undefined;
      }
      throw errorFromBody(body, outcome.status);
    }
    throw new UnavailableError(
      `cannot reach the Dabba server at ${this.addrs.join(', ')} (is it running? set --addr or DABBA_ADDR)`,
      { cause: lastError, details: { addrs: this.addrs } },
    );
  }

  /** Streams a task's log lines (NDJSON from the server, proxied from the task's agent). */
  async *logs(
    taskId: string,
    options: {
      follow?: boolean;
      tail?: number;
      /** The instance before the current one (kept across a restart). */
      previous?: boolean;
      signal?: AbortSignal;
      /** Called before the first line when the log is not the running instance's (see LogInstance). */
      onInstance?: (instance: LogInstance) => void;
      /** Called before the first line when the host's disk took no writes lately (see LogGap). */
      onGaps?: (gaps: LogGap[]) => void;
      /** Called before the first line when output was dropped and counted (see LogDrop). */
      onDrops?: (drops: LogDrop[]) => void;
    } = {},
  ): AsyncGenerator<{ stream: string; time?: number; text: string }> {
    const q = new URLSearchParams();
    if (options.follow) q.set('follow', '1');
    if (options.tail !== undefined) q.set('tail', String(options.tail));
    if (options.previous) q.set('previous', '1');
    const signal = options.signal ?? new AbortController().signal;
    const res = await this.request(
      'GET',
      this.namespaced(`/v1/tasks/${encodeURIComponent(taskId)}/logs?${q.toString()}`),
      {
        signal,
        stream: true,
      },
    );
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    const instance = res.headers.get(LOG_INSTANCE_HEADER);
    if (instance !== null && options.onInstance) {
      try {
        options.onInstance(JSON.parse(instance) as LogInstance);
      } catch {
        // a malformed header: no note
      }
    }
    logHoleNotes(res.headers, options);
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== '') yield JSON.parse(line) as { stream: string; time?: number; text: string };
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
  }
}
