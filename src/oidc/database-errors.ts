// The engine answers any error it did not expect with 500 server_error. When the cause is the database
// being unreachable, the honest answer is RFC 6749 §4.1.2.1 / §5.2-style `temporarily_unavailable` with 503
// (and Retry-After), so every engine hook that reads the database goes through `guardDatabase`.
import { errors, type Provider } from 'oidc-provider';
import { isDatabaseUnavailable } from '../store/unavailable.ts';

function unavailable(cause: unknown): Error {
  const error = new errors.TemporarilyUnavailable('the service is temporarily unavailable; try again shortly', { cause });
  return Object.assign(error, { status: 503, statusCode: 503, expose: true });
}

export function guardDatabase<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => Promise<Awaited<R>> {
  return async function guarded(this: unknown, ...args: A): Promise<Awaited<R>> {
    try {
      return await fn.apply(this, args);
    } catch (error) {
      throw isDatabaseUnavailable(error) ? unavailable(error) : error;
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
