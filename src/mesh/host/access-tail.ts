/**
 * What the proxy's JSON access log adds to HAProxy's own counters: a latency histogram, and the
 * requests that timed out, told apart from those refused after waiting in a queue (termination
 * state `sQ`), per backend and per server. The log is followed from where it ends when the agent
 * starts; a rotation (copy to `.1`, truncate) is followed by reading the rest of `.1` first.
 */
import { open } from 'node:fs/promises';
import { emptyCounters, latencyBucket, type MeshCounters } from '../../model/index.ts';

/** What the log says of one backend or one server. */
export type LogCounts = Pick<MeshCounters, 'timeouts' | 'queueTimeouts' | 'latency'>;

interface LogLine {
  frontend?: unknown;
  caller?: unknown;
  upstream?: unknown;
  status?: unknown;
  backend?: unknown;
  server?: unknown;
  total_ms?: unknown;
  termination?: unknown;
}

const CHUNK = 1 << 20;

export class AccessLogTail {
  readonly #path: string;
  #offset: number | undefined;
  #rest = '';
  #busy: Promise<void> = Promise.resolve();
  /** By backend, and by `backend/server`. */
  readonly counts = new Map<string, LogCounts>();
  /**
   * Requests the proxy itself refused with 403 (termination `PR`: an undeclared upstream), by
   * `side\0caller\0upstream` (side: `inbound` on the inbound frontend, else `outbound`).
   */
  readonly denied = new Map<string, number>();
  /** Lines that were not a JSON object of the access log (HAProxy's own messages, cut lines). */
  skipped = 0;

  constructor(path: string) {
    this.#path = path;
  }

  /** Reads what was written since the last call (the first call only notes where the log ends). */
  catchUp(): Promise<void> {
    const next = this.#busy.then(() => this.#catchUp());
    this.#busy = next.catch(() => undefined);
    return next;
  }

  async #catchUp(): Promise<void> {
    const size = await sizeOf(this.#path);
    if (this.#offset === undefined) {
      this.#offset = size ?? 0;
      return;
    }
    if (size === undefined) return;
    if (size < this.#offset) {
      // Rotated: the lines between our offset and the copy's end are in `.1`.
      await this.#read(`${this.#path}.1`, this.#offset);
      this.#rest = '';
      this.#offset = 0;
    }
    this.#offset = await this.#read(this.#path, this.#offset);
  }

  /** Reads `path` from `from` to its end; returns where it ended. */
  async #read(path: string, from: number): Promise<number> {
    const fh = await open(path, 'r').catch(() => undefined);
    if (fh === undefined) return from;
    let at = from;
    try {
      const buf = Buffer.alloc(CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, at);
        if (bytesRead === 0) break;
        at += bytesRead;
        const text = this.#rest + buf.subarray(0, bytesRead).toString('utf8');
        const lines = text.split('\n');
        this.#rest = lines.pop() ?? '';
        for (const l of lines) this.#line(l);
      }
    } finally {
      await fh.close();
    }
    return at;
  }

  #line(text: string): void {
    if (!text.startsWith('{')) {
      if (text.trim() !== '') this.skipped++;
      return;
    }
    let l: LogLine;
    try {
      l = JSON.parse(text) as LogLine;
    } catch {
      this.skipped++;
      return;
    }
    if (typeof l.backend !== 'string' || typeof l.total_ms !== 'number') return;
    const term = typeof l.termination === 'string' ? l.termination : '--';
    if (l.status === 403 && term.startsWith('PR')) {
      const side = l.frontend === 'fe_inbound' ? 'inbound' : 'outbound';
      const k = [
        side,
        typeof l.caller === 'string' ? l.caller : '',
        typeof l.upstream === 'string' ? l.upstream : '',
      ].join('\0');
      this.denied.set(k, (this.denied.get(k) ?? 0) + 1);
    }
    const keys = [l.backend];
    if (typeof l.server === 'string' && !l.server.startsWith('<')) keys.push(`${l.backend}/${l.server}`);
    for (const k of keys) {
      let c = this.counts.get(k);
      if (c === undefined) {
        const { timeouts, queueTimeouts, latency } = emptyCounters();
        c = { timeouts, queueTimeouts, latency };
        this.counts.set(k, c);
      }
      if (term === 'sQ') c.queueTimeouts++;
      else if (term.startsWith('s')) c.timeouts++;
      const ms = Math.max(0, l.total_ms);
      const b = latencyBucket(ms);
      c.latency.buckets[b] = (c.latency.buckets[b] ?? 0) + 1;
      c.latency.count++;
      c.latency.sumMs += ms;
      c.latency.maxMs = Math.max(c.latency.maxMs, ms);
    }
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (fh === undefined) return undefined;
  try {
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}
