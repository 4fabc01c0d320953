import type { IncomingMessage } from 'node:http';
import { DabbaError } from '../../errors/index.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

/** The request's media type, lower case, without parameters ("" when absent). */
export function contentTypeOf(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Reads a JSON request body: refuses wrong content types (415), bodies over the limit (413, without
 * reading them whole) and malformed JSON (400).
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const type = contentTypeOf(req);
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new DabbaError(
      'DABBA_E_UNSUPPORTED_MEDIA_TYPE',
      `request body must be JSON (Content-Type: application/json), got ${type === '' ? 'no Content-Type' : `"${type}"`}`,
      { details: { contentType: type } },
    );
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  // Read with listeners rather than `for await`: leaving a for-await loop destroys the socket, and
  // the client would see a reset instead of our 413.
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', resolve);
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', resolve);
    req.once('error', reject);
  });
  const text = Buffer.concat(chunks).toString('utf8');
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

function tooLarge(limit: number): DabbaError {
  return new DabbaError('DABBA_E_BODY_TOO_LARGE', `request body is larger than the limit of ${limit} bytes`, {
    details: { limit },
  });
}
