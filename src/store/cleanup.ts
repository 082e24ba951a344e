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
  // Sign-in counters and locks keep their expiry in epoch milliseconds (store/login-attempts.ts); a row
  // past it means exactly what no row means, so deleting it changes no lock-out.
  ['login_attempts', 'key', '(extract(epoch from now()) * 1000)::bigint', 'expire'],
] as const;

export async function deleteExpiredBatch(
  db: Db,
  table: string,
  key: string,
  batchSize: number,
  now = 'now()',
  expiresColumn = 'expires_at',
): Promise<number> {
  const result = await db.raw(
    `DELETE FROM ?? WHERE ?? IN (SELECT ?? FROM ?? WHERE ?? < ${now} ORDER BY ?? LIMIT ? FOR UPDATE SKIP LOCKED)`,
    [table, key, key, table, expiresColumn, expiresColumn, batchSize],
  );
  return (result as { rowCount?: number; affectedRows?: number }).rowCount ?? (result as { affectedRows?: number }).affectedRows ?? 0;
}

/** Deletes expired rows from every table until none are left or `maxBatches` per table have run. */
export async function deleteExpired(db: Db, { batchSize = 1000, maxBatches = 50 } = {}): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const [table, key, now, expiresColumn] of EXPIRING_TABLES) {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await deleteExpiredBatch(db, table, key, batchSize, now, expiresColumn);
      total += n;
      if (n < batchSize) break;
    }
    deleted[table] = total;
  }
  return deleted;
}
