// The one place a database connection is made. PostgreSQL through `pg` when a URL is given, otherwise
// embedded PostgreSQL (PGlite) through `knex-pglite` — the same SQL runs on both.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type ClientPgLite from 'knex-pglite';
import type { PGlite } from '@electric-sql/pglite';
import { migrations } from '../../migrations/index.ts';
import { makeDataDirPrivate, makeEntriesPrivate } from './data-dir.ts';
import { restoreImage } from './embedded-image.ts';
import { withMigrationLock } from './migration-lock.ts';

export type Db = Knex;

export interface DatabaseOptions {
  /** postgres:// URL; when absent, PGlite stores its files under `dataDir` (or in memory for ':memory:'). */
  databaseUrl: string | undefined;
  dataDir: string;
  poolMax?: number;
  /** Where knex's own warnings go (it prints to the console with stack traces otherwise), and how a new embedded database began. */
  log?: (level: 'info' | 'warn' | 'error' | 'debug', message: string) => void;
  /**
   * In memory only: start from this image of a database (PGlite's dumpDataDir) instead of an empty one.
   * Skips the second PGlite spends creating a cluster; the test suite starts many servers from one image.
   */
  memoryImage?: Blob | undefined;
  /**
   * On disk only: where to look for a pre-built image (store/embedded-image.ts) to start a new data directory
   * from. Unset, or no image there matching this code: the cluster is created (initdb).
   */
  imageDir?: string | undefined;
}

/**
 * knex's logger hooks, reduced to one line each without a stack trace, and at most one line per kind every
 * 10 s: during a database outage every failed connection attempt would otherwise log (hundreds a second).
 */
function knexLog(log: DatabaseOptions['log']): Knex.Config['log'] {
  const emit = log ?? (() => {});
  const recent = new Map<string, { at: number; suppressed: number }>();
  const line = (value: unknown) => (value instanceof Error ? value.message : String(value)).split('\n')[0]!.slice(0, 300);
  const limited = (level: 'warn' | 'error' | 'debug') => (value: unknown) => {
    const text = line(value);
    const kind = text.replace(/[0-9.:]+/g, '#').slice(0, 60);
    const seen = recent.get(kind);
    const now = Date.now();
    if (seen && now - seen.at < 10_000) {
      seen.suppressed++;
      return;
    }
    if (recent.size > 100) recent.clear();
    recent.set(kind, { at: now, suppressed: 0 });
    emit(level, seen?.suppressed ? `${text} (and ${seen.suppressed} more like it in the last 10 s)` : text);
  };
  return {
    warn: limited('warn'),
    error: limited('error'),
    deprecate: (method: string, alternative: string) => emit('debug', `${method} is deprecated, use ${alternative}`),
    debug: limited('debug'),
  };
}

export function isEmbedded(options: DatabaseOptions): boolean {
  return !options.databaseUrl;
}

export function createDatabase(options: DatabaseOptions): Db {
  if (options.databaseUrl) {
    return knexFactory({
      client: 'pg',
      // Bounded waits everywhere, so a database outage is answered (503) instead of hanging requests:
      // connecting, waiting for a pooled connection, and any one statement.
      connection: {
        connectionString: options.databaseUrl,
        application_name: 'tessera',
        connectionTimeoutMillis: 3_000,
        statement_timeout: 15_000,
        query_timeout: 20_000,
        keepAlive: true,
      },
      pool: { min: 0, max: options.poolMax ?? 10 },
      acquireConnectionTimeout: 5_000,
      migrations: { migrationSource },
      log: knexLog(options.log),
    });
  }
  const { PGlite, PgLiteClient } = embeddedDriver();
  const startParams = [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS];
  let connection: Record<string, unknown>;
  if (options.dataDir === ':memory:') {
    connection = { pglite: new PGlite({ ...(options.memoryImage ? { loadDataDir: options.memoryImage } : {}), startParams }) };
  } else {
    makeDataDirPrivate(options.dataDir);
    const dir = join(options.dataDir, 'pgdata');
    if (options.imageDir) startFromImage(dir, options.imageDir, options.log);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    connection = { filename: dir, pglite: new PGlite({ dataDir: dir, startParams }) };
  }
  return knexFactory({
    client: PgLiteClient as unknown as typeof Knex.Client,
    dialect: 'postgres',
    connection,
    migrations: { migrationSource },
    log: knexLog(options.log),
  });
}

/**
 * A new PGlite directory (missing or empty) becomes a copy of the pre-built image matching this code, if there
 * is one (store/embedded-image.ts). PGlite then finds a cluster there, as after initdb, and the migrations run
 * next find nothing to do. No image, or one that cannot be used: PGlite creates the cluster (initdb), as without
 * the image. A directory holding anything is left to PGlite as before.
 */
function startFromImage(dir: string, imageDir: string, log: DatabaseOptions['log']): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) return;
  try {
    const image = restoreImage(imageDir, dir);
    log?.('info', image ? `new embedded database: copied from the pre-built image ${image}` : `new embedded database: no pre-built image for this version in ${imageDir}, creating the cluster (initdb)`);
  } catch (error) {
    log?.('warn', `new embedded database: the pre-built image could not be used (${(error as Error).message}), creating the cluster (initdb)`);
  }
}

/**
 * PostgreSQL settings of the embedded database, on top of PGlite's own. shared_buffers: initdb writes
 * 128 MB, and PGlite's PostgreSQL touches its whole buffer pool at start, inside the WebAssembly memory that
 * never shrinks: 150 MiB of the process's RSS from the first second. The files are in the operating system's
 * page cache anyway (one process, one data directory), so a small pool mostly saves a second copy; 32 MB
 * still holds the hot pages (small tables, the indexes of live tokens). Measured: docs/benchmarks.md, "Memory".
 */
const EMBEDDED_SETTINGS = ['-c', 'shared_buffers=32MB'];

interface EmbeddedDriver {
  PGlite: typeof PGlite;
  PgLiteClient: ReturnType<typeof definePgLiteClient>;
}

let embedded: EmbeddedDriver | undefined;

/**
 * PGlite and its knex dialect, loaded the first time an embedded database is made: a process on PostgreSQL
 * (and a CLI command answered through the control socket) never loads them. Both packages ship CommonJS, so
 * they load synchronously here and createDatabase stays synchronous.
 */
function embeddedDriver(): EmbeddedDriver {
  if (!embedded) {
    const require = createRequire(import.meta.url);
    const dialect = require('knex-pglite') as typeof ClientPgLite;
    embedded = { PGlite: (require('@electric-sql/pglite') as { PGlite: typeof PGlite }).PGlite, PgLiteClient: definePgLiteClient(dialect) };
  }
  return embedded;
}

/**
 * knex-pglite names a statement's command after the knex method, so a `.delete()` (method `del`) reports
 * command "DEL" and knex's PostgreSQL code returns a result object instead of the affected-row count.
 * Reporting it as a delete restores `(await q.delete()) > 0`, as on PostgreSQL.
 */
const definePgLiteClient = (dialect: typeof ClientPgLite) =>
  class PgLiteClient extends (dialect as unknown as new (...args: unknown[]) => {
    config: { connection?: { filename?: string } };
    processResponse(obj: { method?: string }, runner: unknown): unknown;
    acquireRawConnection(): Promise<unknown>;
    destroyRawConnection(connection: unknown): Promise<void>;
  }) {
    override processResponse(obj: { method?: string }, runner: unknown): unknown {
      return super.processResponse(obj.method === 'del' ? { ...obj, method: 'delete' } : obj, runner);
    }

    // PGlite writes some files past the umask (data-dir.ts): owner-only again once it has opened (its initdb
    // ran) and once it has closed (files written at shut-down).
    override async acquireRawConnection(): Promise<unknown> {
      const connection = await super.acquireRawConnection();
      this.keepFilesPrivate();
      return connection;
    }

    override async destroyRawConnection(connection: unknown): Promise<void> {
      await super.destroyRawConnection(connection);
      this.keepFilesPrivate();
    }

    private keepFilesPrivate(): void {
      const dir = this.config.connection?.filename;
      if (dir) makeEntriesPrivate(dir);
    }
  };

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => migrations.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const found = migrations.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found[1];
  },
};

/** Every migration the code knows is recorded as applied, and no other (knex's own table, read in one query). */
async function schemaIsCurrent(db: Db): Promise<boolean> {
  let applied: string[];
  try {
    applied = (await db('knex_migrations').pluck('name')) as string[];
  } catch (error) {
    if ((error as { code?: unknown }).code === '42P01') return false; // undefined_table: never migrated
    throw error;
  }
  const known = new Set(migrations.map(([name]) => name));
  return applied.length === known.size && applied.every((name) => known.has(name));
}

/**
 * Applies pending migrations. Replicas starting together wait for each other on an advisory lock
 * (migration-lock.ts), tables included. knex's own lock is still retried for up to a minute: a process of
 * an older version, which takes only that one, may be migrating during a rolling upgrade.
 * A schema already current is seen in one query, without the lock or knex's checks (every CLI command run
 * on its own connection, and every start, comes here). Anything else — never migrated, behind, or
 * migrations this code does not know — goes the full way, which applies or refuses as knex decides.
 */
export async function migrateToLatest(db: Db): Promise<string[]> {
  if (await schemaIsCurrent(db)) return [];
  return withMigrationLock(db, async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const [, applied] = (await db.migrate.latest()) as [number, string[]];
        return applied;
      } catch (error) {
        if ((error as Error).name !== 'MigrationLocked' || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  });
}

/** Migrations known to the code but not yet applied to the database (empty when current). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list()) as [unknown[], Array<{ file?: string } | string>];
  return pending.map((p) => (typeof p === 'string' ? p : (p.file ?? String(p))));
}

/** Rejects when the database does not answer within `timeoutMs` (readiness probes must answer quickly). */
export async function ping(db: Db, timeoutMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('database ping timed out')), timeoutMs);
  });
  try {
    await Promise.race([db.raw('select 1'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
