/** Errors of the image store. details.reason is machine-readable (DigestMismatch, InvalidImage, ...). */
import { DabbaError, type ErrorDetails } from '../errors/index.ts';

export type ImageErrorReason =
  | 'DigestMismatch'
  | 'SizeMismatch'
  | 'InvalidImage'
  | 'InvalidReference'
  | 'UnsupportedMediaType'
  | 'UnpackFailed'
  | 'MountFailed';

export class ImageError extends DabbaError {
  readonly reason: ImageErrorReason;
  constructor(
    reason: ImageErrorReason,
    message: string,
    options: { cause?: unknown; details?: ErrorDetails } = {},
  ) {
    super(
      reason === 'MountFailed' || reason === 'UnpackFailed' ? 'DABBA_E_INTERNAL' : 'DABBA_E_BAD_REQUEST',
      message,
      {
        details: { reason, ...options.details },
        cause: options.cause,
      },
    );
    this.reason = reason;
  }
}

export function digestMismatch(expected: string, actual: string, what = 'blob'): ImageError {
  return new ImageError('DigestMismatch', `${what} digest mismatch: expected ${expected}, got ${actual}`, {
    details: { expected, actual },
  });
}
