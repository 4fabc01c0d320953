import type { IncomingMessage } from 'node:http';
import { DabbaError } from '../../errors/index.ts';

export const MAX_BODY_BYTES = 1024 * 1024;
/** A body that sends nothing for this long is abandoned (408): a stalled client holds no handler. */
export const BODY_IDLE_MS = 30_000;

/** The request's media type, lower case, without parameters ("" when absent). */
export function contentTypeOf(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Reads a JSON request body: refuses wrong content types (415), bodies over the limit (413, without
 * reading them whole), bodies that stall (408) and malformed JSON (400).
 */
export async function readJsonBody(
  req: IncomingMessage,
  limit = MAX_BODY_BYTES,
  idleMs = BODY_IDLE_MS,
): Promise<unknown> {
  const type = contentTypeOf(req);
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new DabbaError(
      'DABBA_E_UNSUPPORTED_MEDIA_TYPE',
      `request body must be JSON (Content-Type: application/json), got ${type === '' ? 'no Content-Type' : `"${type}"`}`,
      { details: { contentType: type } },
    );
  }
  const text = (await readRawBody(req, limit, idleMs)).toString('utf8');
  if (text.trim() === '') {
    throw new DabbaError('DABBA_E_MALFORMED_JSON', 'request body is empty; expected a JSON document');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new DabbaError(
      'DABBA_E_MALFORMED_JSON',
      `request body is not valid JSON: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

/**
 * Reads a request body whole, whatever its type: bodies over the limit are refused (413, without
 * reading them whole), bodies that stall (408) and bodies cut off (400).
 */
export async function readRawBody(
  req: IncomingMessage,
  limit = MAX_BODY_BYTES,
  idleMs = BODY_IDLE_MS,
): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  // Read with listeners rather than `for await`: leaving a for-await loop destroys the socket, and
  // the client would see a reset instead of our 413.
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (e?: unknown): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      req.off('close', onClose);
      if (e === undefined) resolve();
      else reject(e instanceof Error ? e : new Error('request body read failed'));
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => done(stalled(idleMs)), idleMs);
      timer.unref();
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) return done(tooLarge(limit));
      chunks.push(chunk);
      arm();
    };
    const onEnd = (): void => done();
    // A client that goes away mid-body ends neither with 'end' nor always with 'error'.
    const onClose = (): void => {
      if (!req.complete) done(new DabbaError('DABBA_E_BAD_REQUEST', 'the request body was cut off'));
    };
    arm();
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', done);
    req.once('close', onClose);
  });
  return Buffer.concat(chunks);
}

function tooLarge(limit: number): DabbaError {
  return new DabbaError('DABBA_E_BODY_TOO_LARGE', `request body is larger than the limit of ${limit} bytes`, {
    details: { limit },
  });
}

function stalled(idleMs: number): DabbaError {
  return new DabbaError(
    'DABBA_E_REQUEST_TIMEOUT',
    `the request body stopped arriving (nothing for ${idleMs / 1000} s)`,
    { details: { idleMs } },
  );
}
