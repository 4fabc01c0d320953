/** Errors of the image store. details.reason is machine-readable (DigestMismatch, InvalidImage, ...). */
import { DabbaError, type ErrorCode, type ErrorDetails } from '../errors/index.ts';

export type ImageErrorReason =
  | 'DigestMismatch'
  | 'SizeMismatch'
  | 'InvalidImage'
  | 'InvalidReference'
  | 'UnsupportedMediaType'
  | 'TooLarge'
  | 'UnpackFailed'
  | 'MountFailed';

function codeFor(reason: ImageErrorReason): ErrorCode {
  switch (reason) {
    case 'MountFailed':
    case 'UnpackFailed':
      return 'DABBA_E_INTERNAL';
    case 'TooLarge':
      return 'DABBA_E_IMAGE_TOO_LARGE';
    case 'DigestMismatch':
    case 'SizeMismatch':
    case 'InvalidImage':
      return 'DABBA_E_IMAGE_INVALID';
    case 'InvalidReference':
    case 'UnsupportedMediaType':
      return 'DABBA_E_BAD_REQUEST';
  }
}

export class ImageError extends DabbaError {
  readonly reason: ImageErrorReason;
  constructor(
    reason: ImageErrorReason,
    message: string,
    options: { cause?: unknown; details?: ErrorDetails } = {},
  ) {
    super(codeFor(reason), message, {
      details: { reason, ...options.details },
      cause: options.cause,
    });
    this.reason = reason;
  }
}

export function digestMismatch(expected: string, actual: string, what = 'blob'): ImageError {
  return new ImageError('DigestMismatch', `${what} digest mismatch: expected ${expected}, got ${actual}`, {
    details: { expected, actual },
  });
}
