/**
 * The API client's telemetry methods: metrics, log tables, task log shipping, and the event log.
 * One link of the chain of classes DabbaClient is built from (see client.ts).
 */
import { DabbaError } from '../errors/index.ts';
import type {
  DabbaEvent,
  IngestBatch,
  IngestResult,
  MetricsQuery,
  MetricsQueryResult,
  LogTableInfo,
  LogTableQueryResult,
  TaskLogBatch,
} from '../model/index.ts';
import { errorFromBody, parseResponse } from './responses.ts';
import { readSse } from './sse.ts';
import { MeshMethods } from './mesh-methods.ts';

/** A log table query (`dabba table query`); see queryTable. */
export interface TableQuery {
  where?: string[];
  by?: string[];
  agg?: string;
  since?: string;
  bucket?: string;
  limit?: number;
}

export class TelemetryMethods extends MeshMethods {
  // Time series
  /** Ships one batch of a host's points (agents); idempotent per (host, seq). */
  ingestMetrics(batch: IngestBatch): Promise<IngestResult> {
    return this.requestJson('POST', '/v1/metrics/ingest', { body: batch });
  }
  /** Queries a metric (the client's namespace's series; `*`: every series, host-level ones too). */
  queryMetrics(q: MetricsQuery): Promise<MetricsQueryResult> {
    const p = new URLSearchParams({ name: q.name });
    for (const w of q.where ?? []) p.append('where', w);
    for (const b of q.by ?? []) p.append('by', b);
    if (q.rate === true) p.set('rate', '1');
    for (const k of ['since', 'start', 'end', 'step', 'agg', 'over'] as const) {
      const v = q[k];
      if (v !== undefined) p.set(k, v);
    }
    return this.requestJson('GET', this.namespaced(`/v1/metrics/query?${p.toString()}`));
  }
  // Events and watch
  /** Log tables and their columns (rows counted in the client's namespace). */
  listTables(): Promise<LogTableInfo[]> {
    return this.requestJson('GET', this.namespaced('/v1/tables'));
  }
  /** `where`: COL=V, COL!=V, COL>N, COL<N, COL~REGEX...; `agg`: count,sum(C),avg(C),min(C),max(C),pNN(C). */
  queryTable(table: string, q: TableQuery = {}): Promise<LogTableQueryResult> {
    const p = new URLSearchParams();
    for (const w of q.where ?? []) p.append('where', w);
    for (const b of q.by ?? []) p.append('by', b);
    for (const k of ['agg', 'since', 'bucket', 'limit'] as const)
      if (q[k] !== undefined) p.set(k, String(q[k]));
    const path = `/v1/tables/${encodeURIComponent(table)}/query${p.size ? `?${p.toString()}` : ''}`;
    return this.requestJson('GET', this.namespaced(path));
  }
  /** Appends rows (JSON objects; columns are discovered) to a table of the client's namespace. */
  insertRows(table: string, rows: unknown[]): Promise<{ table: string; received: number; written: number }> {
    return this.requestJson('POST', this.namespaced(`/v1/tables/${encodeURIComponent(table)}/rows`), {
      body: { rows },
    });
  }
  /** Keeps 1 row in `sampleRate` of a table from now on (admin). */
  setTableSampleRate(table: string, sampleRate: number): Promise<{ table: string; sampleRate: number }> {
    return this.requestJson('PUT', `/v1/tables/${encodeURIComponent(table)}/settings`, {
      body: { sampleRate },
    });
  }
  /** An agent's batch of its tasks' output lines. */
  shipTaskLogs(hostId: string, batch: TaskLogBatch): Promise<{ written: number; refused: number }> {
    return this.requestJson('POST', `/v1/hosts/${encodeURIComponent(hostId)}/tasklogs`, { body: batch });
  }
  events(options: { job?: string; limit?: number } = {}): Promise<DabbaEvent[]> {
    const q = new URLSearchParams();
    if (options.job) q.set('job', options.job);
    if (options.limit) q.set('limit', String(options.limit));
    return this.requestJson('GET', this.namespaced(`/v1/events${q.size ? `?${q.toString()}` : ''}`));
  }

  /**
   * Follows the event log (`GET /v1/events?follow=1`): the newest `limit` events (of `job`), then
   * each new one, until the signal aborts. A lost connection is resumed from the last revision seen
   * (retrying every second while the server is away); if that revision was compacted meanwhile the
   * log is listed again, without repeating events already yielded.
   */
  async *followEvents(options: {
    job?: string;
    limit?: number;
    signal: AbortSignal;
  }): AsyncGenerator<DabbaEvent> {
    const { signal } = options;
    const seen = new Set<string>();
    let rev: number | undefined;
    while (!signal.aborted) {
      const q = new URLSearchParams({ follow: '1' });
      if (options.job) q.set('job', options.job);
      if (options.limit) q.set('limit', String(options.limit));
      if (rev !== undefined) q.set('rev', String(rev));
      try {
        const res = await this.request('GET', this.namespaced(`/v1/events?${q.toString()}`), {
          signal,
          stream: true,
        });
        if (!res.ok || !res.body) {
          await parseResponse(res);
          return;
        }
        for await (const msg of readSse(res.body, signal)) {
          if (msg.event === 'error') throw errorFromBody(JSON.parse(msg.data), 410);
          if (msg.event !== 'event') continue;
          const e = JSON.parse(msg.data) as DabbaEvent;
          if (msg.id !== undefined) rev = Number(msg.id) + 1;
          if (seen.has(e.id)) continue;
          if (seen.size >= 10_000) seen.clear();
          seen.add(e.id);
          yield e;
        }
      } catch (e) {
        if (signal.aborted) return;
        // Compacted: list again. The server away: retry. Anything else the server said: give up.
        if (e instanceof DabbaError) {
          if (e.code === 'DABBA_E_COMPACTED') rev = undefined;
          else if (e.code !== 'DABBA_E_UNAVAILABLE') throw e;
        }
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  }
}
