/**
 * The one catalogue of error codes. Each code is stable (scripts match on it) and maps to exactly one
 * HTTP status here, and nowhere else.
 */
export const ERROR_CODES = {
  DABBA_E_VALIDATION: 400,
  DABBA_E_BAD_REQUEST: 400,
  /** No credential, or one that is not valid (unknown, expired, revoked, wrong CA); details say which. */
  DABBA_E_UNAUTHENTICATED: 401,
  /** A valid credential that does not allow this; details say what was missing (role, namespace, host). */
  DABBA_E_FORBIDDEN: 403,
  DABBA_E_MALFORMED_JSON: 400,
  DABBA_E_UNSUPPORTED_MEDIA_TYPE: 415,
  DABBA_E_BODY_TOO_LARGE: 413,
  /** A deploy would take a namespace past its quota (nothing was stored); details say by how much. */
  DABBA_E_QUOTA_EXCEEDED: 403,
  /** A request body stopped arriving (no byte for the idle timeout) before it ended. */
  DABBA_E_REQUEST_TIMEOUT: 408,
  /** An image (archive, manifest, config or layer) is malformed, unsafe or does not match its digest. */
  DABBA_E_IMAGE_INVALID: 400,
  /** An image goes over a configured bound (decompressed size, entries, metadata size). */
  DABBA_E_IMAGE_TOO_LARGE: 413,
  DABBA_E_NOT_FOUND: 404,
  DABBA_E_METHOD_NOT_ALLOWED: 405,
  DABBA_E_CONFLICT: 409,
  /** No host's runtime can run the job's task (no image for containers, an image the server lacks). */
  DABBA_E_UNRUNNABLE: 422,
  /** Every per-host range of the task network is taken (widen `dabba server --task-network`). */
  DABBA_E_NETWORK_FULL: 409,
  DABBA_E_COMPACTED: 410,
  DABBA_E_LEASE_NOT_FOUND: 404,
  /**
   * A write refused for lack of space (a full disk, etcd's NOSPACE alarm, or free space below the
   * server's watermark for new job versions and images). Reads keep working; writes resume by
   * themselves once there is room.
   */
  DABBA_E_STORAGE_FULL: 507,
  /** A write refused because the data directory's file system is read-only. Reads keep working. */
  DABBA_E_STORAGE_READONLY: 507,
  DABBA_E_STORE: 503,
  DABBA_E_STORE_CLOSED: 503,
  DABBA_E_UNAVAILABLE: 503,
  DABBA_E_TIMEOUT: 504,
  /** The client could not verify the server's TLS certificate (a CA is missing or wrong). */
  DABBA_E_TLS: 502,
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
