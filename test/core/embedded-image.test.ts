// The pre-built embedded cluster (store/embedded-image.ts, scripts/build-embedded-image.ts): a first start on a
// new data directory is copied from a matching image instead of creating its cluster (initdb) and migrating,
// and is then like any other first start — every migration recorded, keys of its own, owner-only files, the
// same cluster on the next start. An image that does not match this code, or is damaged, is not used; one that
// is behind is migrated; none carries an instance's data. Embedded only: these run on PGlite in directories of their own, also when
// DATABASE_URL is set for the rest of the suite. The server runs in this process (the code `tessera serve` runs).
// Which cluster a server runs on is told by PostgreSQL's system identifier: initdb picks it at random and an
// image carries it, so a server whose identifier is the image's started from that image.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { openRuntime } from '../../src/runtime.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { runOperation } from '../../src/services/operations.ts';
import { createSecretBox } from '../../src/domain/secret-box.ts';
import { ensureKeys } from '../../src/domain/keys.ts';
import { createDatabase, migrateToLatest, type Db } from '../../src/store/db.ts';
import { currentImageInputs, imageFileName, imagePath } from '../../src/store/embedded-image.ts';
import { assertHoldsNoInstanceData, makeEmbeddedImage } from '../../src/store/make-embedded-image.ts';
import { freePort } from '../helpers/free-port.ts';
import { ROOT } from '../helpers/cli.ts';

const SLOW = { timeout: 120_000 };
const MIGRATION_NAMES = migrations.map(([name]) => name);

let parent: string;
let originalUmask: number;
/** A current image, as the build script makes it (the global set-up's when the run is on PGlite). */
let image: Blob;
let imageId: string;

beforeAll(async () => {
  // A permissive umask: PGlite writes the image's files with the modes it asks for, past the umask.
  originalUmask = process.umask(0o000);
  parent = mkdtempSync(join(tmpdir(), 'tessera-embedded-image-'));
  const made = inject('memoryImagePath');
  image = made ? new Blob([readFileSync(made)]) : await makeEmbeddedImage();
  imageId = await inMemory(image, systemIdentifier);
}, 120_000);
afterAll(() => {
  process.umask(originalUmask);
  rmSync(parent, { recursive: true, force: true });
});

async function systemIdentifier(db: Db): Promise<string> {
  const { rows } = (await db.raw('select system_identifier::text as id from pg_control_system()')) as { rows: Array<{ id: string }> };
  return rows[0]!.id;
}

/** Runs `use` on an in-memory database started from `from`. */
async function inMemory<T>(from: Blob, use: (db: Db) => Promise<T>): Promise<T> {
  const db = createDatabase({ databaseUrl: undefined, dataDir: ':memory:', memoryImage: from });
  try {
    return await use(db);
  } finally {
    await db.destroy();
  }
}

/** A directory of images holding `blob` under `name` (default: the name this code looks for). */
async function imageDirWith(blob: Blob, name = imageFileName(currentImageInputs())): Promise<string> {
  const dir = mkdtempSync(join(parent, 'images-'));
  writeFileSync(join(dir, name), Buffer.from(await blob.arrayBuffer()));
  return dir;
}

/** The real server on embedded PGlite in `dataDir` (created by it), without TESSERA_SECRET, as `npm start` runs. */
async function startEmbedded(dataDir: string, imageDir: string): Promise<RunningServer> {
  const port = await freePort();
  const result = parseConfig({ PORT: String(port), HOST: '127.0.0.1', ISSUER: `http://127.0.0.1:${port}`, TESSERA_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  if (!result.ok) throw new Error(result.problems.join('; '));
  return startServer(result.config, createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() })), { imageDir });
}

const appliedMigrations = async (db: Db) => (await db('knex_migrations').orderBy('id').pluck('name')) as string[];
const kids = async (db: Db) => ((await db('keys').orderBy('kid').pluck('kid')) as string[]).sort();

/** Entries under `dir` (itself included) that group or others may open. */
function openEntries(dir: string): string[] {
  const open: string[] = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    if ((stat.mode & 0o077) !== 0) open.push(`${(stat.mode & 0o777).toString(8)} ${path}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return open;
}

describe('a first start from the pre-built image', SLOW, () => {
  it('copies a matching image into a new data directory: migrated, keys of its own, owner-only, the same cluster after a restart', async () => {
    const imageDir = await imageDirWith(image);
    const dataDir = join(parent, 'first'); // not there yet: serve creates it
    let server = await startEmbedded(dataDir, imageDir);
    let firstKids: string[];
    try {
      const db = server.runtime.db;
      expect(await systemIdentifier(db)).toBe(imageId);
      expect(await appliedMigrations(db)).toEqual(MIGRATION_NAMES);
      firstKids = await kids(db);
      expect(firstKids.length).toBeGreaterThan(0);
      await runOperation(server.operations, 'user.create', { username: 'first', password: 'correct horse battery', email: 'first@example.test', name: 'First' });
      expect(existsSync(join(dataDir, 'dev-secret'))).toBe(true);
      expect(openEntries(dataDir)).toEqual([]);
    } finally {
      await server.close();
    }
    expect(openEntries(dataDir)).toEqual([]);

    // The second start finds its own cluster (the image is still there, and not copied again).
    server = await startEmbedded(dataDir, imageDir);
    try {
      const db = server.runtime.db;
      expect(await systemIdentifier(db)).toBe(imageId);
      expect(await kids(db)).toEqual(firstKids);
      expect(await runOperation(server.operations, 'user.show', { user: 'first' })).toMatchObject({ username: 'first' });
    } finally {
      await server.close();
    }

    // Another new directory from the same image: nothing of the first instance, keys of its own.
    const other = await startEmbedded(join(parent, 'other'), imageDir);
    try {
      const db = other.runtime.db;
      expect(await db('accounts').where({ username: 'first' }).first()).toBeUndefined();
      const otherKids = await kids(db);
      expect(otherKids.length).toBe(firstKids.length);
      expect(otherKids.filter((kid) => firstKids.includes(kid))).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('ignores an image made for other code (another key) and creates the cluster as before; a matching image never replaces it', async () => {
    const otherKey = imageFileName({ ...currentImageInputs(), pglite: '0.0.1' });
    const dataDir = join(parent, 'stale');
    let server = await startEmbedded(dataDir, await imageDirWith(image, otherKey));
    let ownId: string;
    try {
      const db = server.runtime.db;
      ownId = await systemIdentifier(db);
      expect(ownId).not.toBe(imageId);
      expect(await appliedMigrations(db)).toEqual(MIGRATION_NAMES);
      expect((await kids(db)).length).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
    expect(openEntries(dataDir)).toEqual([]);

    server = await startEmbedded(dataDir, await imageDirWith(image));
    try {
      expect(await systemIdentifier(server.runtime.db)).toBe(ownId);
    } finally {
      await server.close();
    }
  });

  it('falls back to initdb when the image under this name is damaged, and leaves nothing of it behind', async () => {
    const whole = Buffer.from(await image.arrayBuffer());
    const imageDir = await imageDirWith(new Blob([whole.subarray(0, Math.floor(whole.length / 2))]));
    const dataDir = join(parent, 'damaged');
    const server = await startEmbedded(dataDir, imageDir);
    try {
      expect(await systemIdentifier(server.runtime.db)).not.toBe(imageId);
      expect(await appliedMigrations(server.runtime.db)).toEqual(MIGRATION_NAMES);
    } finally {
      await server.close();
    }
    expect(readdirSync(dataDir).sort()).toEqual(['dev-secret', 'pgdata']);
  });

  it('copies the image again after a first start that was interrupted while copying it', async () => {
    const dataDir = join(parent, 'interrupted');
    // What a first start killed mid-copy leaves: a partial copy beside PGlite's directory, never in it.
    mkdirSync(join(dataDir, 'pgdata.partial', 'base'), { recursive: true });
    writeFileSync(join(dataDir, 'pgdata.partial', 'PG_VERSION'), '18\n');
    const server = await startEmbedded(dataDir, await imageDirWith(image));
    try {
      expect(await systemIdentifier(server.runtime.db)).toBe(imageId);
    } finally {
      await server.close();
    }
    expect(existsSync(join(dataDir, 'pgdata.partial'))).toBe(false);
  });

  it('migrates an image that is behind the code (the migrations still run after copying it)', async () => {
    const behind = await makeEmbeddedImage({ upTo: migrations.length - 1 });
    expect(await inMemory(behind, appliedMigrations)).toEqual(MIGRATION_NAMES.slice(0, -1));
    const imageDir = await imageDirWith(behind);
    const server = await startEmbedded(join(parent, 'behind'), imageDir);
    try {
      const db = server.runtime.db;
      expect(await systemIdentifier(db)).toBe(await inMemory(behind, systemIdentifier));
      expect(await appliedMigrations(db)).toEqual(MIGRATION_NAMES);
    } finally {
      await server.close();
    }
  });
});

describe('a CLI command opening a new data directory itself', SLOW, () => {
  const configFor = (dataDir: string) => {
    const result = parseConfig({ TESSERA_DATA_DIR: dataDir, TESSERA_SECRET: 'cli-test-secret-cli-test-secret-0123456789', LOG_LEVEL: 'silent' });
    if (!result.ok) throw new Error(result.problems.join('; '));
    return result.config;
  };

  it('starts from the image when it migrates on opening (every command but migrate and doctor)', async () => {
    const imageDir = await imageDirWith(image);
    const runtime = await openRuntime(configFor(join(parent, 'cli-command')), createLogger('silent'), { imageDir, signIns: false });
    try {
      expect(await systemIdentifier(runtime.db)).toBe(imageId);
      expect(await appliedMigrations(runtime.db)).toEqual(MIGRATION_NAMES);
    } finally {
      await runtime.close();
    }
  });

  it('creates an empty cluster for `migrate` (it opens unmigrated), which then applies and reports every migration', async () => {
    const imageDir = await imageDirWith(image);
    const runtime = await openRuntime(configFor(join(parent, 'cli-migrate')), createLogger('silent'), { imageDir, migrate: false, signIns: false });
    try {
      expect(await systemIdentifier(runtime.db)).not.toBe(imageId);
      expect(await migrateToLatest(runtime.db)).toEqual(MIGRATION_NAMES);
    } finally {
      await runtime.close();
    }
  });
});

describe('the image itself', SLOW, () => {
  it('holds the schema and the record of every migration, and no row of an instance: no key, account, client or secret', async () => {
    await inMemory(image, async (db) => {
      expect(await appliedMigrations(db)).toEqual(MIGRATION_NAMES);
      const tables = (await db('pg_tables').where({ schemaname: 'public' }).pluck('tablename')) as string[];
      expect(tables).toEqual(expect.arrayContaining(['keys', 'accounts', 'clients', 'upstream_providers']));
      const counts: Record<string, number> = {};
      for (const table of tables.filter((t) => !t.startsWith('knex_'))) {
        counts[table] = Number(((await db(table).count('* as n')) as Array<{ n: unknown }>)[0]!.n);
      }
      expect(Object.entries(counts).filter(([, n]) => n > 0)).toEqual([]);
    });
  });

  it('is refused by the check every image goes through once a table holds rows (keys made as a first start makes them)', async () => {
    await inMemory(image, async (db) => {
      await expect(assertHoldsNoInstanceData(db)).resolves.toBeUndefined();
      await ensureKeys(db, createSecretBox('image-test-secret-image-test-secret-0123456789'));
      await expect(assertHoldsNoInstanceData(db)).rejects.toThrow(/keys/);
    });
  });

  it('is written by the build script under the name this code looks for, replacing images of other keys', async () => {
    const dir = join(parent, 'built');
    mkdirSync(dir);
    const stale = join(dir, imageFileName({ ...currentImageInputs(), knex: '0.0.1' }));
    writeFileSync(stale, 'an image for other code');
    const run = () =>
      new Promise<{ code: number | null; output: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [join(ROOT, 'scripts/build-embedded-image.ts'), '--dir', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, output }));
      });
    const first = await run();
    expect(first.code, first.output).toBe(0);
    expect(readdirSync(dir)).toEqual([imageFileName(currentImageInputs())]);
    const built = new Blob([readFileSync(imagePath(dir))]);
    expect(await inMemory(built, appliedMigrations)).toEqual(MIGRATION_NAMES);
    const again = await run();
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain('is current');
  });
});
