/**
 * Bearer tokens: `dabba_` and 32 random bytes in base64url. Stored as their SHA-256 only: for a
 * secret with 256 bits of entropy a plain hash is as good as a slow one, and costs one hash per
 * request at most (the cache is keyed by it).
 */
import { createHash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'dabba_';
const TOKEN_PATTERN = /^dabba_[A-Za-z0-9_-]{43,128}$/;

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Whether a string has the shape of a token (not whether it is valid). */
export function looksLikeToken(s: string): boolean {
  return TOKEN_PATTERN.test(s);
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The bearer token of an `Authorization: Bearer T` header: undefined without one, '' if malformed. */
export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? '';
}
