// A refresh-token exchange is one transaction (store/unit-of-work.ts): the old refresh token consumed, its
// successor and the opaque access token stored, and — for a replay — the grant revoked, all in one commit
// made before the response is written. Nothing is half done after a crash (the engine stores the successor
// before the access token, in separate adapter calls), and a refresh costs one commit instead of three.
//
// Every engine request that can write (POST) runs as a unit; the unit opens its transaction only when the
// token endpoint looks up the refresh token of a refresh_token grant (oidc/adapter.ts), so other requests
// never hold a connection for longer than a statement. Parallel uses of one refresh token queue on a lock
// of their grant, taken as the transaction's first statement (store/engine-records.ts findForRotation),
// and every revocation of a grant takes the same lock first (store/revocations.ts): whoever holds it may
// consume, store and revoke that grant's tokens without meeting another request's row locks in a
// different order.
//
// The outcome decides: an answer below 500 is committed (a replay's revocation and its refusal belong
// together), anything else rolled back. A failed commit is answered 503 temporarily_unavailable, with the
// tokens in the body discarded: the old refresh token was not spent and works on the client's retry.
import type Provider from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { createUnitOfWork as createStoreUnitOfWork, type UnitOfWork } from '../store/unit-of-work.ts';
import { isDatabaseUnavailable } from '../problem.ts';

export type { UnitOfWork };

export function createUnitOfWork(root: Db): UnitOfWork & { install(provider: Provider): void } {
  const uow = createStoreUnitOfWork(root);

  /** Installed last, so the engine's other middleware (metrics, audit, Retry-After) sees the final answer. */
  function install(provider: Provider): void {
    provider.use(async (ctx, next) => {
      if (ctx.method !== 'POST') return next();
      const { result, unit } = uow.run(next);
      try {
        await result;
      } catch (error) {
        await unit.finish(false);
        throw error;
      }
      if (!unit.opened) return;
      const answered = ctx.status < 500 && unit.failure === undefined;
      if (!answered) {
        await unit.finish(false);
        // A statement failed but the engine still answered success: nothing it issued was stored.
        if (ctx.status < 300) temporarilyUnavailable(ctx);
        return;
      }
      try {
        await unit.finish(true, { succeeded: ctx.status < 300 });
      } catch (error) {
        // Rolled back: the old refresh token was not spent. An unexpected error is still a retryable outage to
        // the client (the engine answers its own 500s the same way), and is logged by the host.
        if (!isDatabaseUnavailable(error)) provider.emit('server_error', ctx, error);
        temporarilyUnavailable(ctx);
      }
    });
  }

  return { ...uow, install };
}

function temporarilyUnavailable(ctx: { status: number; body: unknown; set(name: string, value: string): void }): void {
  ctx.status = 503;
  ctx.set('Retry-After', '5');
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' };
}
