// Migrations run by one process at a time across the whole cluster. knex's own lock is a row in
// knex_migrations_lock, which knex creates on first use outside any lock: replicas starting together on an
// empty database raced on that CREATE TABLE (duplicate key in pg_class_relname_nsp_index / pg_type) and
// one exited. A session-level PostgreSQL advisory lock, taken on a connection of its own before knex touches
// anything, serialises the whole migration, its tables included; the next process then finds nothing to do.
// The lock goes with its connection, so a process that dies mid-migration cannot leave it held.
// PGlite needs none: one process owns an embedded data directory (src/control-socket.ts).
import type { Knex } from 'knex';

/** Next to the key-rotation (0x7e55e4a) and feed (0x7e55e4b) locks. */
export const MIGRATION_LOCK_ID = 0x7e55e4c;

/** How long a process waits for another one's migration before it gives up (and its start fails). */
const WAIT_SECONDS = 300;

interface RawPgConnection {
  query(config: { text: string; values?: unknown[]; query_timeout?: number }): Promise<unknown>;
}

interface RawConnections {
  acquireRawConnection(): Promise<RawPgConnection>;
  destroyRawConnection(connection: RawPgConnection): Promise<void>;
}

export async function withMigrationLock<T>(db: Knex, migrate: () => Promise<T>): Promise<T> {
  if (db.client.config.client !== 'pg') return migrate();
  // Outside the pool, so a pool of one connection (DATABASE_POOL_MAX=1) still has one left for knex.
  const raw = db.client as unknown as RawConnections;
  const connection = await raw.acquireRawConnection();
  try {
    const wait = { query_timeout: (WAIT_SECONDS + 5) * 1000 };
    await connection.query({ text: `SET statement_timeout = '${WAIT_SECONDS}s'` });
    await connection.query({ text: 'SELECT pg_advisory_lock($1)', values: [MIGRATION_LOCK_ID], ...wait });
    return await migrate();
  } finally {
    // Closing the connection releases the lock; no unlock statement can fail in between.
    await raw.destroyRawConnection(connection).catch(() => {});
  }
}
