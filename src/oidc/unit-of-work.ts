// One transaction per token exchange. A refresh consumes the old refresh token and stores its successor
// and (opaque) access token; a code exchange consumes the code and stores what it issues. The engine does
// these through separate adapter calls, each its own commit; here they share one transaction, committed
// before the response is written — one commit instead of three, and nothing half-done. The adapter reads
// the database through `db`, which is the request's transaction while one is open (AsyncLocalStorage)
// and the pool otherwise. The token endpoint's grant type is known before the engine reads the body:
// http/middleware/engine-request.ts reads /token bodies already and records it on the request.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { isDatabaseUnavailable } from '../problem.ts';

const GRANT_TYPE = Symbol.for('tessera.tokenGrantType');
const IN_ONE_TRANSACTION = new Set(['refresh_token', 'authorization_code']);

/** Records the token request's grant type on the request the engine will handle. */
export function markGrantType(req: IncomingMessage, grantType: string | null): void {
  (req as IncomingMessage & { [GRANT_TYPE]?: string | null })[GRANT_TYPE] = grantType;
}

export function createUnitOfWork(root: Db) {
  const current = new AsyncLocalStorage<Db>();
  const target = () => current.getStore() ?? root;
  // A stand-in for the knex handle that forwards every call to the open transaction, if any.
  const db = new Proxy(root, {
    apply: (_fn, _this, args: unknown[]) => Reflect.apply(target() as unknown as (...a: unknown[]) => unknown, undefined, args),
    get: (_fn, property) => {
      const handle = target();
      const value = Reflect.get(handle, property) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(handle) : value;
    },
  }) as Db;

  /** Runs the engine's token exchanges of these grant types in one transaction each. */
  function install(provider: Provider): void {
    provider.use(async (ctx, next) => {
      const grantType = (ctx.req as IncomingMessage & { [GRANT_TYPE]?: string | null })[GRANT_TYPE];
      if (!grantType || !IN_ONE_TRANSACTION.has(grantType) || current.getStore()) return next();
      try {
        await root.transaction((trx) => current.run(trx, next));
      } catch (error) {
        if (!isDatabaseUnavailable(error)) throw error;
        // The commit failed: nothing was stored, the old refresh token (or code) is unspent; say retry.
        ctx.status = 503;
        ctx.set('Retry-After', '5');
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' };
      }
    });
  }

  return { db, install };
}
