/**
 * The browser's tls.ts (the web UI's build puts it in tls.ts's place, see scripts/build-ui.ts): in a
 * browser the page's origin is the server, and the browser verifies its certificate itself; there
 * is no dispatcher to give fetch, and no CA or client certificate to set.
 */
import { DabbaError } from '../errors/index.ts';
import type { ClientTls, StreamAnswer } from './tls.ts';

export type { ClientTls, StreamAnswer } from './tls.ts';
export { certificateErrorCode, untrustedServerError } from './tls-errors.ts';

export function tlsDispatcher(tls: ClientTls): undefined {
  if (tls.ca !== undefined || tls.cert !== undefined)
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      'in a browser the browser verifies the server: a CA or a client certificate cannot be given',
    );
  return undefined;
}

export function withDispatcher(init: RequestInit, _dispatcher: undefined): RequestInit {
  return init;
}

/** In a browser a stream is fetch's. */
export async function getStream(
  url: string,
  o: { headers: Record<string, string>; signal?: AbortSignal },
  _dispatcher: undefined,
): Promise<StreamAnswer> {
  const res = await fetch(url, {
    headers: o.headers,
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  });
  const body = res.body;
  return {
    status: res.status,
    header: (name) => res.headers.get(name) ?? undefined,
    body: body ?? (async function* () {})(),
    text: () => res.text(),
    discard: async () => {
      await body?.cancel();
    },
  };
}
