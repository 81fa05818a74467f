/**
 * One error type for the whole app. Every error has a stable machine-readable `code`, an HTTP
 * `status` and a sentence for people; the error handler (src/http/error-handler.ts) renders it as
 * the /api JSON body or the dashboard's error page. Unknown errors never reach a response.
 */
import type { ErrorType } from '@keyward/guard';

/** One invalid input field, named by its path (e.g. `rateLimits.perMinute`). */
export interface FieldIssue {
  field: string;
  message: string;
}

/** Broad families of errors, mirrored in the /api body's `error.type`. */
export type { ErrorType };

export interface AppErrorInit {
  status: number;
  code: string;
  message: string;
  type?: ErrorType;
  details?: FieldIssue[];
  headers?: Record<string, string>;
  cause?: unknown;
}

/** An error with a stable code and HTTP status, safe to show to the caller. */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly type: ErrorType;
  readonly details?: FieldIssue[];
  readonly headers?: Record<string, string>;

  constructor(init: AppErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'AppError';
    this.status = init.status;
    this.code = init.code;
    this.type = init.type ?? defaultType(init.status);
    this.details = init.details;
    this.headers = init.headers;
  }
}

function defaultType(status: number): ErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 402) return 'budget_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Input that failed validation: 400 `validation_error`, listing every bad field. */
export function validationError(details: FieldIssue[]): AppError {
  const fields = [...new Set(details.map((d) => d.field))].join(', ');
  return new AppError({
    status: 400,
    code: 'validation_error',
    message: `Invalid value for: ${fields}.`,
    details,
  });
}

/** A record that does not exist, or that the caller may not see (the two are indistinguishable). */
export function notFound(what = 'Resource'): AppError {
  return new AppError({ status: 404, code: 'not_found', message: `${what} not found.` });
}

/** A transition the record's current state does not allow, e.g. activating a revoked key. */
export function invalidState(message: string): AppError {
  return new AppError({ status: 409, code: 'invalid_state', message });
}

/** A unique value already taken, e.g. a tenant slug or a user's email. */
export function conflict(field: string, message: string): AppError {
  return new AppError({ status: 409, code: 'conflict', message, details: [{ field, message }] });
}
