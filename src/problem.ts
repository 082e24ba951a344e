// What an error means to whoever asked, decided once: `toProblem` maps anything thrown — our AppErrors, the
// database's errors, the engine's and Koa's — to a Problem, and every renderer only formats it (the error page
// and OAuth JSON in http/middleware/error-handler.ts, the admin API's JSON in http/admin/boundary.ts, the
// control socket's reply, the CLI's exit status and line). Pure: no I/O, no logging.
import { AppError, TemporarilyUnavailable, ValidationError, type Detail } from './errors.ts';

export interface Problem {
  /** HTTP status (the CLI derives its exit status from it). */
  status: number;
  /** OAuth-style error code (RFC 6749 §5.2 and ours: not_found, conflict, …). */
  error: string;
  /** Safe to show the caller: the error's own words when `expose`, a generic sentence otherwise. */
  description: string;
  /** False for faults the caller cannot act on (a bug, an internal error): renderers log the error itself. */
  expose: boolean;
  /** The Retry-After header, in seconds. */
  retryAfterSeconds?: number;
  /** The failing fields of invalid input. */
  details?: Detail[];
}

export const GENERIC_DESCRIPTION = 'the request failed; see the server log';
export const CONFLICT_DESCRIPTION = 'that already exists';
export const UNREPRESENTABLE_DESCRIPTION = 'the request holds a value that cannot be stored (such as a NUL character or an out-of-range number)';

export function toProblem(error: unknown): Problem {
  if (error instanceof AppError) return fromAppError(error);
  if (isDatabaseUnavailable(error)) return fromAppError(new TemporarilyUnavailable());
  // A unique index refused a row that a check-then-insert let through (two requests racing).
  if (isUniqueViolation(error)) return { status: 409, error: 'conflict', description: CONFLICT_DESCRIPTION, expose: true };
  // Safety net behind the edge's checks (http/middleware/hostile-input.ts, the admin schemas): a value
  // PostgreSQL cannot represent is the request's fault, not the server's.
  if (isUnrepresentableInput(error)) return { status: 400, error: 'invalid_request', description: UNREPRESENTABLE_DESCRIPTION, expose: true };
  const e = error as { status?: unknown; error?: unknown; error_description?: unknown; expose?: unknown; message?: unknown } | null | undefined;
  // oidc-provider's errors (e.g. SessionNotFound from interactionDetails) carry status, error and expose.
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && typeof e.error === 'string' && e.expose === true) {
    return { status: e.status, error: e.error, description: typeof e.error_description === 'string' ? e.error_description : e.error, expose: true };
  }
  // http-errors, as Koa and its parsers throw them (a malformed cookie or query string): their own status.
  if (typeof e?.status === 'number' && Number.isInteger(e.status) && e.status >= 400 && e.status < 600 && typeof e.expose === 'boolean') {
    if (e.status < 500 && e.expose) return { status: e.status, error: 'invalid_request', description: String(e.message), expose: true };
    return { status: e.status, error: e.status < 500 ? 'invalid_request' : 'server_error', description: GENERIC_DESCRIPTION, expose: false };
  }
  return { status: 500, error: 'server_error', description: GENERIC_DESCRIPTION, expose: false };
}

function fromAppError(error: AppError): Problem {
  return {
    status: error.status,
    error: error.code,
    description: error.expose ? error.description : GENERIC_DESCRIPTION,
    expose: error.expose,
    ...(error instanceof TemporarilyUnavailable ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
    ...(error instanceof ValidationError ? { details: error.details } : {}),
  };
}

// ---- What the database's errors mean. Pure shape tests on the error and its `cause` chain (the engine and
// knex wrap the driver's errors), so every layer may ask without importing the store.

type Cause = { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; errors?: unknown } | null | undefined;

/** Whether `test` holds for the error or one of its first causes. */
function somewhereInChain(error: unknown, test: (e: NonNullable<Cause>) => boolean): boolean {
  for (let e = error as Cause, depth = 0; e && depth < 4; e = e.cause as Cause, depth++) {
    if (test(e)) return true;
  }
  return false;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  // PostgreSQL SQLSTATE: connection exceptions (class 08), operator intervention (57P01-57P03:
  // admin_shutdown, crash_shutdown, cannot_connect_now), too many connections, statement/query timeout.
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
  // Waits that were given up, where a retry will do: lock_not_available (lock_timeout, as a refresh
  // exchange waiting for its grant's lock sets: store/engine-records.ts), deadlock_detected,
  // serialization_failure.
  '55P03',
  '40P01',
  '40001',
]);

const CONNECTION_MESSAGES = [/Connection terminated/i, /connection timeout/i, /Client has encountered a connection error/i, /timeout exceeded when trying to connect/i];

/**
 * Whether an error means "the database cannot be reached right now" (as opposed to a bug or bad data):
 * answered with 503 temporarily_unavailable instead of a 500; callers retry nothing themselves.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return somewhereInChain(error, (e) => {
    if (e.name === 'KnexTimeoutError') return true;
    if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && CONNECTION_MESSAGES.some((m) => m.test(e.message as string))) return true;
    return e.name === 'AggregateError' && Array.isArray(e.errors) && e.errors.some(isDatabaseUnavailable);
  });
}

// SQLSTATE class 22 (data exception) for values the input put there: character_not_in_repertoire,
// untranslatable_character, invalid_text_representation, numeric_value_out_of_range,
// datetime_field_overflow, invalid_datetime_format.
const INPUT_CODES = new Set(['22021', '22P05', '22P02', '22003', '22008', '22007']);

/** Whether the database refused a value it cannot represent: the request was bad, the server is fine. */
export function isUnrepresentableInput(error: unknown): boolean {
  return somewhereInChain(error, (e) => typeof e.code === 'string' && INPUT_CODES.has(e.code));
}

/** SQLSTATE 23505 unique_violation: a row with that key exists already. */
export function isUniqueViolation(error: unknown): boolean {
  return somewhereInChain(error, (e) => e.code === '23505');
}
