// The one place a database connection is made. PostgreSQL through `pg` when a URL is given, otherwise
// embedded PostgreSQL (PGlite) through `knex-pglite` — the same SQL runs on both.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { migrations } from '../../migrations/index.ts';

export type Db = Knex;

export interface DatabaseOptions {
  /** postgres:// URL; when absent, PGlite stores its files under `dataDir` (or in memory for ':memory:'). */
  databaseUrl: string | undefined;
  dataDir: string;
  poolMax?: number;
}

export function isEmbedded(options: DatabaseOptions): boolean {
  return !options.databaseUrl;
}

export function createDatabase(options: DatabaseOptions): Db {
  if (options.databaseUrl) {
    return knexFactory({
      client: 'pg',
      connection: { connectionString: options.databaseUrl, application_name: 'tessera' },
      pool: { min: 0, max: options.poolMax ?? 10 },
      acquireConnectionTimeout: 10_000,
      migrations: { migrationSource },
    });
  }
  let connection: Record<string, string> = {};
  if (options.dataDir !== ':memory:') {
    const dir = join(options.dataDir, 'pgdata');
    mkdirSync(dir, { recursive: true });
    connection = { filename: dir };
  }
  return knexFactory({
    client: ClientPgLite as unknown as typeof Knex.Client,
    dialect: 'postgres',
    connection,
    migrations: { migrationSource },
  });
}

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => migrations.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const found = migrations.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found[1];
  },
};

export async function migrateToLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest()) as [number, string[]];
  return applied;
}

/** Migrations known to the code but not yet applied to the database (empty when current). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list()) as [unknown[], Array<{ file?: string } | string>];
  return pending.map((p) => (typeof p === 'string' ? p : (p.file ?? String(p))));
}

export async function ping(db: Db): Promise<void> {
  await db.raw('select 1');
}
