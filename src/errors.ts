// Every error the host raises on purpose, in one place. `toProblem` (problem.ts) turns these — and the
// database's, the engine's and Koa's errors — into the one answer every renderer formats (error page, OAuth
// JSON, admin API JSON, control-socket reply, CLI line); anything else becomes a logged 500 with a generic
// description.
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly description: string;
  /** Whether `description` may be shown to the caller. */
  readonly expose: boolean;

  constructor(status: number, code: string, description: string, expose = status < 500) {
    super(description);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.description = description;
    this.expose = expose;
  }
}

export class BadRequest extends AppError {
  constructor(description: string) {
    super(400, 'invalid_request', description);
  }
}

/** RFC 6750 §3.1: the bearer token is missing, invalid or not for this endpoint. */
export class Unauthorized extends AppError {
  constructor(description: string, code = 'invalid_token') {
    super(401, code, description);
  }
}

export class NotFound extends AppError {
  constructor(description = 'not found') {
    super(404, 'not_found', description);
  }
}

export class PayloadTooLarge extends AppError {
  constructor(description = 'request body too large') {
    super(413, 'invalid_request', description);
  }
}

export class CsrfRejected extends AppError {
  constructor() {
    super(403, 'invalid_request', 'the form expired or was not sent by this site; go back and try again');
  }
}

/** The change clashes with what exists: a taken username, a resource server already registered. */
export class Conflict extends AppError {
  constructor(description: string) {
    super(409, 'conflict', description);
  }
}

/** The database cannot be reached: RFC 6749 §4.1.2.1 `temporarily_unavailable`, answered with 503. */
export class TemporarilyUnavailable extends AppError {
  /** What the caller is told to wait before trying again (the Retry-After header). */
  readonly retryAfterSeconds = 5;
  constructor() {
    super(503, 'temporarily_unavailable', 'the service is temporarily unavailable; try again shortly', true);
  }
}

/** One field's problem in a ValidationError (`path` into the input, as zod reports it). */
export interface Detail {
  path: Array<string | number>;
  message: string;
}

/**
 * Input that fails validation: 422 for well-formed input that is not acceptable, 400 for input that is
 * malformed (e.g. a pagination cursor the server never issued). `details` names each failing field.
 */
export class ValidationError extends AppError {
  readonly details: Detail[];
  constructor(description: string, status: 400 | 422 = 422, details: Detail[] = []) {
    super(status, 'invalid_request', description);
    this.details = details;
  }
}

/** The admin API's request parsing (http/admin/request.ts): a ValidationError, status first. */
export class InvalidInput extends ValidationError {
  constructor(status: 400 | 422, description: string, details: Detail[]) {
    super(description, status, details);
  }
}

/** UsageError's code: the CLI's renderer answers it with exit status 2. */
export const USAGE_ERROR = 'invalid_usage';

/** A command line the CLI cannot run (unknown command or flag, a flag missing): exit 2, not 1. */
export class UsageError extends AppError {
  constructor(description: string) {
    super(400, USAGE_ERROR, description);
  }
}
