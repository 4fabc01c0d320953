/**
 * The one catalogue of error codes. Each code is stable (scripts match on it) and maps to exactly one
 * HTTP status here, and nowhere else.
 */
export const ERROR_CODES = {
  DABBA_E_VALIDATION: 400,
  DABBA_E_BAD_REQUEST: 400,
  DABBA_E_MALFORMED_JSON: 400,
  DABBA_E_UNSUPPORTED_MEDIA_TYPE: 415,
  DABBA_E_BODY_TOO_LARGE: 413,
  /** No credentials, or credentials that are unknown, revoked or expired. */
  DABBA_E_UNAUTHENTICATED: 401,
  /** Authenticated, but the role or namespaces do not allow this; details say what was missing. */
  DABBA_E_FORBIDDEN: 403,
  /** A deploy would take a namespace past its quota (nothing was stored); details say by how much. */
  DABBA_E_QUOTA_EXCEEDED: 403,
  DABBA_E_NOT_FOUND: 404,
  DABBA_E_METHOD_NOT_ALLOWED: 405,
  DABBA_E_CONFLICT: 409,
  /** Every per-host range of the task network is taken (widen `dabba server --task-network`). */
  DABBA_E_NETWORK_FULL: 409,
  DABBA_E_COMPACTED: 410,
  DABBA_E_LEASE_NOT_FOUND: 404,
  DABBA_E_STORE: 503,
  DABBA_E_STORE_CLOSED: 503,
  DABBA_E_UNAVAILABLE: 503,
  DABBA_E_TIMEOUT: 504,
  DABBA_E_RUNTIME: 500,
  DABBA_E_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function httpStatusFor(code: string): number {
  return (ERROR_CODES as Record<string, number>)[code] ?? 500;
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
