/** Reading the API's answers: JSON bodies, its error shape, NDJSON streams. */
import { DabbaError, isErrorCode } from '../errors/index.ts';

export async function* ndjson(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() !== '') yield line;
    }
  }
}

export function errorFromBody(body: unknown, status: number): DabbaError {
  const b = (body ?? {}) as { code?: unknown; message?: unknown; details?: unknown };
  const code = typeof b.code === 'string' && isErrorCode(b.code) ? b.code : 'DABBA_E_INTERNAL';
  const message = typeof b.message === 'string' ? b.message : `server answered HTTP ${status}`;
  const details =
    typeof b.details === 'object' && b.details !== null ? (b.details as Record<string, unknown>) : {};
  return new DabbaError(code, message, { details: { ...details, httpStatus: status } });
}

export async function parseResponse(res: Response): Promise<unknown> {
  const text = await res.text();
  let body: unknown = undefined;
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw new DabbaError('DABBA_E_INTERNAL', `server sent a non-JSON answer (HTTP ${res.status})`, {
        cause,
        details: { body: text.slice(0, 200) },
      });
    }
  }
  if (!res.ok) throw errorFromBody(body, res.status);
  return body;
}
