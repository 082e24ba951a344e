// Errors the host raises on purpose. One handler (http/middleware/error-handler.ts) renders them as
// OAuth-style JSON or as a readable HTML page; anything else is a logged 500 with a generic body.
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

export class NotFound extends AppError {
  constructor(description = 'not found') {
    super(404, 'not_found', description);
  }
}

export class PayloadTooLarge extends AppError {
  constructor() {
    super(413, 'invalid_request', 'request body too large');
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
  constructor() {
    super(503, 'temporarily_unavailable', 'the service is temporarily unavailable; try again shortly', true);
  }
}

/**
 * Raised by the CLI, domain and store for input that fails validation: 422 for well-formed input that is not
 * acceptable, 400 for input that is malformed (e.g. a pagination cursor the server never issued).
 */
export class ValidationError extends AppError {
  constructor(description: string, status: 400 | 422 = 422) {
    super(status, 'invalid_request', description);
  }
}
