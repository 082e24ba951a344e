// Whether an error means "the database cannot be reached right now" (as opposed to a bug or bad data):
// callers answer those with 503 temporarily_unavailable instead of a 500, and retry nothing themselves.
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
]);

const CONNECTION_MESSAGES = [/Connection terminated/i, /connection timeout/i, /Client has encountered a connection error/i, /timeout exceeded when trying to connect/i];

export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.name === 'KnexTimeoutError') return true;
    if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && CONNECTION_MESSAGES.some((m) => m.test(e!.message as string))) return true;
    if (e.name === 'AggregateError' && Array.isArray((e as { errors?: unknown[] }).errors)) {
      if ((e as { errors: unknown[] }).errors.some(isDatabaseUnavailable)) return true;
    }
  }
  return false;
}
