// Making an image of a migrated embedded database (PGlite's dumpDataDir, an uncompressed tar of its data
// directory): the pre-built cluster a first start copies (scripts/build-embedded-image.ts, store/embedded-image.ts)
// and the one every in-memory test server starts from (test/helpers/memory-image.ts). Both are made here, by the
// same migrations a server runs, so an image differs from a cluster a start creates only in having skipped initdb.
import { createDatabase, migrateToLatest, type Db } from './db.ts';

/** knex's own tables: the record of the applied migrations and its lock row (never an instance's data). */
const KNEX_TABLES = new Set(['knex_migrations', 'knex_migrations_lock']);

interface Dumpable {
  dumpDataDir(compression: 'none'): Promise<Blob>;
}

/**
 * A new in-memory database, migrated (`upTo`: only the first n migrations, for tests of an image that is
 * behind), checked to hold no row of its own and checkpointed, as an image.
 */
export async function makeEmbeddedImage({ upTo }: { upTo?: number } = {}): Promise<Blob> {
  const db = createDatabase({ databaseUrl: undefined, dataDir: ':memory:' });
  try {
    if (upTo === undefined) await migrateToLatest(db);
    else for (let i = 0; i < upTo; i++) await db.migrate.up();
    await assertHoldsNoInstanceData(db);
    // Everything in the data files, so a start from the image has no write-ahead log to replay.
    await db.raw('CHECKPOINT');
    const connection = (await db.client.acquireConnection()) as Dumpable;
    try {
      return await connection.dumpDataDir('none');
    } finally {
      await db.client.releaseConnection(connection);
    }
  } finally {
    await db.destroy();
  }
}

/**
 * Refuses an image that would carry an instance's data into every installation made from it: keys, secrets,
 * accounts, clients — any row at all outside knex's own tables. Migrations create tables and indexes only;
 * a migration that one day inserts rows must be looked at (are they the same for every instance?) before
 * this allows them.
 */
export async function assertHoldsNoInstanceData(db: Db): Promise<void> {
  const tables = (await db('pg_tables').where({ schemaname: 'public' }).pluck('tablename')) as string[];
  const withRows: string[] = [];
  for (const table of tables.filter((t) => !KNEX_TABLES.has(t)).sort()) {
    if (await db(table).first(db.raw('1'))) withRows.push(table);
  }
  if (withRows.length) throw new Error(`an embedded image must hold no rows outside knex's tables; these have some: ${withRows.join(', ')}`);
}
