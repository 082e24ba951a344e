// The engine answers any error it did not expect with 500 server_error. When the cause is the database
// being unreachable, the honest answer is RFC 6749 §4.1.2.1 / §5.2-style `temporarily_unavailable` with 503
// (and Retry-After), so every engine hook that reads the database goes through `guardDatabase`. A value the
// database cannot represent (NUL, an out-of-range number) is answered 400 invalid_request there too.
import { errors, type Provider } from 'oidc-provider';
import { isDatabaseUnavailable, isUnrepresentableInput } from '../problem.ts';

export function unavailable(cause: unknown): Error {
  const error = new errors.TemporarilyUnavailable('the service is temporarily unavailable; try again shortly', { cause });
  return Object.assign(error, { status: 503, statusCode: 503, expose: true });
}

export function guardDatabase<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => Promise<Awaited<R>> {
  return async function guarded(this: unknown, ...args: A): Promise<Awaited<R>> {
    try {
      return await fn.apply(this, args);
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw unavailable(error);
      // Safety net behind http/middleware/hostile-input.ts: a value PostgreSQL cannot represent is the
      // request's fault (400 invalid_request), not the server's.
      if (isUnrepresentableInput(error)) throw new errors.InvalidRequest('the request holds a value that cannot be accepted');
      throw error;
    }
  };
}

/** The engine's error handler sets no headers of its own: add Retry-After to its 503 answers. */
export function retryAfterOutages(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status === 503) ctx.set('Retry-After', '5');
  });
}
