import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Principal } from '../../auth/index.ts';
import { DabbaError } from '../../errors/index.ts';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborts when the client goes away or the server shuts down. */
  signal: AbortSignal;
  /**
   * An HTTP/1.1 Upgrade request (only to routes registered with `upgrade: true`): the connection,
   * and what the client sent after its headers. `res` answers refusals; once the handler has
   * switched protocols it owns the socket and answers nothing through `res`.
   */
  upgrade?: { socket: Duplex; head: Buffer };
  /** Who asks (authenticated and authorized for the route before the handler runs). */
  principal: Principal;
  /** The namespace the request was authorized for (`?namespace=`, default `default`; `*`: all). */
  namespace: string;
}

/** A handler returns a JSON-able value (sent with `status`), or undefined if it wrote the response. */
export type Handler = (ctx: RouteContext) => Promise<unknown>;

interface Route {
  method: string;
  pattern: string;
  parts: string[];
  handler: Handler;
  status: number;
  upgrade: boolean;
}

/** A small path router: `/v1/jobs/:name` style patterns, 404 and 405 as typed errors. */
export class Router {
  readonly #routes: Route[] = [];

  /** `options.upgrade`: the route also takes HTTP/1.1 Upgrade requests (RouteContext.upgrade). */
  on(
    method: string,
    pattern: string,
    handler: Handler,
    status = 200,
    options: { upgrade?: boolean } = {},
  ): this {
    const parts = pattern.split('/').filter(Boolean);
    this.#routes.push({ method, pattern, parts, handler, status, upgrade: options.upgrade === true });
    return this;
  }

  /** Every route as `METHOD /pattern`. */
  routes(): { method: string; pattern: string }[] {
    return this.#routes.map((r) => ({ method: r.method, pattern: r.pattern }));
  }

  match(
    method: string,
    path: string,
  ): {
    handler: Handler;
    params: Record<string, string>;
    status: number;
    pattern: string;
    upgrade: boolean;
  } {
    const parts = path.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const r of this.#routes) {
      const params = matchParts(r.parts, parts);
      if (!params) continue;
      if (r.method === method)
        return { handler: r.handler, params, status: r.status, pattern: r.pattern, upgrade: r.upgrade };
      allowed.push(r.method);
    }
    if (allowed.length > 0) {
      throw new DabbaError('DABBA_E_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
        details: { allowed },
      });
    }
    throw new DabbaError('DABBA_E_NOT_FOUND', `no such endpoint: ${method} ${path}`, {
      details: { path },
    });
  }
}

function matchParts(pattern: string[], parts: string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] ?? '';
    const v = parts[i] ?? '';
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(v);
      } catch {
        return undefined;
      }
    } else if (p !== v) return undefined;
  }
  return params;
}
