/** A failure a command reports to its client as `{error_code, details}`. */
import type { ErrorCode } from '../shared/protocol.js';

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    details: string,
  ) {
    super(details);
  }
}
