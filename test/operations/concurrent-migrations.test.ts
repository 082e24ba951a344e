// Replicas starting together on an empty PostgreSQL database (docker compose's scale profile, a Kubernetes
// rollout) must all come up: before the advisory lock, knex created its own tables outside its lock, and
// 2 in 19 fresh two-replica starts died on "duplicate key value violates unique constraint
// pg_class_relname_nsp_index". PostgreSQL only: an embedded data directory belongs to one process.
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest, type Db } from '../../src/store/db.ts';
import { migrations } from '../../migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { createStorage, describeResult, runCli, type Storage } from '../helpers/cli.ts';

const onPostgres = Boolean(process.env.DATABASE_URL);
const ALL = migrations.map(([name]) => name);

async function appliedMigrations(databaseUrl: string): Promise<string[]> {
  const db = createDatabase({ databaseUrl, dataDir: ':memory:' });
  try {
    return (await db('knex_migrations').orderBy('id').pluck('name')) as string[];
  } finally {
    await db.destroy();
  }
}

describe.skipIf(!onPostgres)('migrations started at once on an empty database', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it('all succeed when eight migrators (each with its own pool) start together, three times over', async () => {
    for (let round = 0; round < 3; round++) {
      const database: TestDatabase = await createTestDatabase();
      cleanups.push(database.drop);
      const dbs: Db[] = Array.from({ length: 8 }, () => createDatabase({ databaseUrl: database.databaseUrl, dataDir: ':memory:', poolMax: 1 }));
      cleanups.push(async () => void (await Promise.all(dbs.map((db) => db.destroy()))));
      // Every pool connected first, so the migrations themselves start as close together as possible.
      await Promise.all(dbs.map((db) => db.raw('select 1')));

      const results = await Promise.allSettled(dbs.map((db) => migrateToLatest(db)));

      const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
      expect(failures).toEqual([]);
      const applied = results.map((r) => (r as PromiseFulfilledResult<string[]>).value);
      // One of them applied everything; the others found nothing left to do.
      expect(applied.filter((a) => a.length > 0)).toEqual([ALL]);
      expect(await appliedMigrations(database.databaseUrl!)).toEqual(ALL);
    }
  });

  it('all succeed as separate `tessera migrate` processes, and each migration is recorded once', async () => {
    const storage: Storage = await createStorage('tessera-migrate-race-');
    cleanups.push(storage.drop);

    const runs = await Promise.all(Array.from({ length: 4 }, () => runCli(storage, ['migrate', '--json'])));

    for (const run of runs) expect(run.code, describeResult(run)).toBe(0);
    const applied = runs.map((run) => (JSON.parse(run.stdout) as { applied: string[] }).applied);
    expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
    expect(await appliedMigrations(storage.databaseUrl!)).toEqual(ALL);
  });
});
