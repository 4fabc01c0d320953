/**
 * One scrape of a task's metrics endpoint: an HTTP GET with a deadline and a cap on the body's
 * size (a task serving gigabytes, or never answering, costs the agent one bounded request).
 */
import { request } from 'node:http';
import {
  DEFAULT_PARSE_LIMITS,
  parseExposition,
  type ParseLimits,
  type ParseResult,
} from './exposition-parse.ts';

export const SCRAPE_ACCEPT =
  'application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,application/json;q=0.3,*/*;q=0.1';

export interface ScrapeOptions {
  timeoutMs: number;
  /** Largest body read (default 4 MiB); a larger one fails the scrape. */
  maxBytes?: number;
  limits?: ParseLimits;
  signal?: AbortSignal;
}

export type ScrapeResult = ({ ok: true } & ParseResult) | { ok: false; error: string };

export const DEFAULT_MAX_SCRAPE_BYTES = 4 * 1024 * 1024;

/** GETs `url` and parses the answer; never throws. */
export function scrape(url: string, o: ScrapeOptions): Promise<ScrapeResult> {
  const maxBytes = o.maxBytes ?? DEFAULT_MAX_SCRAPE_BYTES;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ScrapeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(r);
    };
    const onAbort = (): void => finish({ ok: false, error: 'aborted' });
    let req: ReturnType<typeof request>;
    try {
      req = request(url, { method: 'GET', headers: { accept: SCRAPE_ACCEPT } });
    } catch (e) {
      resolve({ ok: false, error: `bad url: ${(e as Error).message}` });
      return;
    }
    const timer = setTimeout(
      () => finish({ ok: false, error: `no answer within ${o.timeoutMs} ms` }),
      o.timeoutMs,
    );
    o.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e) => finish({ ok: false, error: e.message }));
    req.on('response', (res) => {
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
        res.resume();
        finish({ ok: false, error: `HTTP ${res.statusCode ?? 0}` });
        return;
      }
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > maxBytes) {
        finish({ ok: false, error: `body of ${declared} bytes is over the ${maxBytes}-byte limit` });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) finish({ ok: false, error: `body over the ${maxBytes}-byte limit` });
        else chunks.push(c);
      });
      res.on('error', (e) => finish({ ok: false, error: e.message }));
      res.on('end', () => {
        if (done) return;
        const body = Buffer.concat(chunks).toString('utf8');
        finish({
          ok: true,
          ...parseExposition(body, res.headers['content-type'], o.limits ?? DEFAULT_PARSE_LIMITS),
        });
      });
    });
    req.end();
  });
}
