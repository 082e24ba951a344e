// A refresh-token exchange commits once, before the response is written (store/unit-of-work.ts): the old
// refresh token consumed, its successor and the opaque access token stored — or, for a replay, the grant
// revoked. Nothing is half done after a crash (the engine stores the successor before the access token, in
// separate adapter calls), and a refresh costs one commit instead of three.
//
// Every engine request that can write (POST) runs as a unit. A rotation needs no transaction held across
// the engine's work: the token is read on the pool, and the rotation's writes are one statement made when
// the unit finishes (store/engine-records.ts rotate) — it takes the grant's lock, spends the old token only
// if it is still spendable and stores the new ones only if it did. Of parallel uses of one token exactly
// one spends it; the others are refused as replays and revoke the grant (RFC 9700 §4.14.2), answered here.
// A token read as already spent (a replay) opens a transaction instead, under the grant's lock
// (findForRotation), so its revocation and its refusal commit together. Every revocation of a grant takes
// the same lock first (store/revocations.ts), so no two writers of a grant's tokens meet in a different order.
//
// The outcome decides: an answer below 500 is committed, anything else rolled back. A failed write is
// answered 503 temporarily_unavailable, with the tokens in the body discarded: the old refresh token was
// not spent and works on the client's retry.
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
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
      if (!unit.pending) return;
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
        // Another request spent the refresh token first: this one is a replay (its grant is revoked by now).
        if (error instanceof errors.InvalidGrant) {
          const { revokedGrantId } = error as { revokedGrantId?: string | null };
          if (revokedGrantId) provider.emit('grant.revoked', ctx, revokedGrantId);
          provider.emit('grant.error', ctx, error);
          return refuse(ctx, error);
        }
        // Rolled back: the old refresh token was not spent. An unexpected error is still a retryable outage to
        // the client (the engine answers its own 500s the same way), and is logged by the host.
        if (!isDatabaseUnavailable(error)) provider.emit('server_error', ctx, error);
        temporarilyUnavailable(ctx);
      }
    });
  }

  return { ...uow, install };
}

/** The engine's own shape for an OAuth error at the token endpoint (RFC 6749 §5.2). */
function refuse(ctx: { status: number; body: unknown; set(name: string, value: string): void }, error: InstanceType<typeof errors.InvalidGrant>): void {
  ctx.status = error.statusCode;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: error.error, error_description: error.error_description };
}

function temporarilyUnavailable(ctx: { status: number; body: unknown; set(name: string, value: string): void }): void {
  ctx.status = 503;
  ctx.set('Retry-After', '5');
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' };
}
