// Periodic deletion of expired rows. Batched so no statement holds many locks, and SKIP LOCKED so several
// server processes sharing one database neither block nor double-delete each other.
import type { Db } from './db.ts';

const EXPIRING_TABLES = [
  ['tokens', 'id_hash'],
  ['sessions', 'id_hash'],
  ['interactions', 'id_hash'],
  ['grants', 'id'],
  ['revocations', 'id'],
  ['revocation_events', 'id'],
  ['initial_access_token_rules', 'id_hash'],
  ['webauthn_challenges', 'id'],
  ['email_tokens', 'token_hash'],
  // Sign-in counters and locks keep their expiry in epoch milliseconds (store/login-attempts.ts); a row
  // past it means exactly what no row means, so deleting it changes no lock-out.
  ['login_attempts', 'key', '(extract(epoch from now()) * 1000)::bigint', 'expire'],
] as const;

/**
 * Deletes up to `batchSize` expired rows, oldest first, from `from` on (the expiry of the last row the
 * previous batch deleted). Without that lower bound every batch's index scan would start at the oldest
 * entry again and step over all the entries earlier batches left dead until VACUUM removes them (while any
 * older snapshot is open, PostgreSQL cannot mark them dead in the index): work quadratic in the batches.
 */
export async function deleteExpiredBatch(
  db: Db,
  table: string,
  key: string,
  batchSize: number,
  now = 'now()',
  expiresColumn = 'expires_at',
  from?: unknown,
): Promise<{ deleted: number; last: unknown }> {
  const lowerBound = from === undefined || from === null ? '' : ' AND ?? >= ?';
  const result = await db.raw(
    `WITH deleted AS (DELETE FROM ?? WHERE ?? IN (SELECT ?? FROM ?? WHERE ?? < ${now}${lowerBound} ORDER BY ?? LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING ??)
     SELECT count(*)::int AS deleted, max(??) AS last FROM deleted`,
    [table, key, key, table, expiresColumn, ...(lowerBound ? [expiresColumn, from] : []), expiresColumn, batchSize, expiresColumn, expiresColumn] as Parameters<Db['raw']>[1] & unknown[],
  );
  const row = (result as { rows: Array<{ deleted: number; last: unknown }> }).rows[0];
  return { deleted: Number(row?.deleted ?? 0), last: row?.last ?? from };
}

/** Deletes expired rows from every table until none are left or `maxBatches` per table have run. */
export async function deleteExpired(db: Db, { batchSize = 1000, maxBatches = 50 } = {}): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const [table, key, now, expiresColumn] of EXPIRING_TABLES) {
    let total = 0;
    let from: unknown;
    for (let i = 0; i < maxBatches; i++) {
      const batch = await deleteExpiredBatch(db, table, key, batchSize, now, expiresColumn, from);
      total += batch.deleted;
      from = batch.last;
      if (batch.deleted < batchSize) break;
    }
    deleted[table] = total;
  }
  return deleted;
}
