// One lock per grant, held to the end of the transaction that takes it: everything that writes a grant's
// tokens in a transaction which may also wait for something else takes it first — a refresh-token exchange
// (store/engine-records.ts findForRotation, before it reads the token) and every grant revocation
// (store/revocations.ts). Whoever holds a grant's lock then meets no other holder's row locks on that
// grant's tokens, so parallel redemptions of one refresh token, their replay revocations and an operator's
// revocation queue one after another instead of deadlocking. Several grants are locked in one order (by
// lock key). Transaction-scoped advisory locks: released at COMMIT or ROLLBACK, also when the connection
// dies. The two-key form keeps these apart from the single-key locks used elsewhere (FEED_APPEND_LOCK).
import type { Db } from './db.ts';

const GRANT_LOCK_CLASS = 0x7e55;

/** SQL locking the grant named by `expression` (no lock for null). */
export const grantLockSql = (expression: string) => `pg_advisory_xact_lock(${GRANT_LOCK_CLASS}, hashtext(${expression}))`;

/** Locks the grants in one statement, in lock-key order. Only inside a transaction. */
export async function lockGrants(trx: Db, grantIds: readonly string[]): Promise<void> {
  if (grantIds.length === 0) return;
  await trx.raw(`select ${grantLockSql('id')} from (select distinct id, hashtext(id) as k from unnest(?::text[]) as id order by k) as ordered`, [[...grantIds]]);
}
