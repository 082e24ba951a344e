// What a `tessera` process loads (docs/benchmarks.md, "CLI and start-up"): each command here is a real child
// process with a trace of every module it loads (helpers/module-trace.ts). Timings are never asserted; what
// makes a command slow is, and a test can hold it: `--help` and `--version` load no package at all; a command
// the serving process answers (control socket) loads neither the engine (oidc-provider), the host (koa), the
// database drivers nor the services; a command on a connection of its own loads the database but not the
// engine, until an operation needs it to sign or issue. And the quicker schema check must still do what the
// full one did: migrate a database that is behind, and refuse one holding migrations this code does not know.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { createDatabase } from '../../src/store/db.ts';
import { createStorage, describeResult, expectJson, expectOneLineFailure, ROOT, runCli, type CliResult, type Storage } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ON_POSTGRES = Boolean(process.env.DATABASE_URL);
const SLOW = { timeout: 180_000 };
/** module.registerHooks (Node 22.15, 23.5): older Nodes run Tessera but cannot trace it this way. */
const CANNOT_TRACE = typeof (nodeModule as { registerHooks?: unknown }).registerHooks !== 'function';
const TRACE_HOOK = pathToFileURL(join(ROOT, 'test/helpers/module-trace.ts')).href;

/** The engine, the HTTP host and what only the server uses: a CLI command loads them only to sign or issue. */
const SERVER_PACKAGES = ['oidc-provider', 'koa', '@koa/router', 'eta', 'prom-client', 'openid-client'];
/** Everything that opens or talks to a database, hashes passwords or makes keys. */
const DATABASE_PACKAGES = ['knex', 'pg', '@electric-sql/pglite', 'knex-pglite', 'argon2', 'jose'];

interface Traced {
  result: CliResult;
  /** Packages under node_modules (`@scope/name` or `name`). */
  packages: Set<string>;
  /** Our own modules, relative to the repository root (`src/cli/index.ts`). */
  sources: string[];
}

const traceDir = mkdtempSync(join(tmpdir(), 'tessera-trace-'));
let traces = 0;

async function traced(storage: Storage, args: string[], env: Record<string, string | undefined> = {}): Promise<Traced> {
  const file = join(traceDir, `${traces++}.json`);
  const result = await runCli(storage, args, { env: { NODE_OPTIONS: `--import=${TRACE_HOOK}`, TESSERA_MODULE_TRACE: file, ...env } });
  const urls = (JSON.parse(readFileSync(file, 'utf8')) as string[]).filter((url) => url.startsWith('file:'));
  const paths = urls.map((url) => fileURLToPath(url));
  const packages = new Set(paths.filter((p) => p.includes('/node_modules/')).map((p) => p.replace(/^.*\/node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1')));
  const sources = paths.filter((p) => !p.includes('/node_modules/') && !p.endsWith('module-trace.ts')).map((p) => relative(ROOT, p));
  return { result, packages, sources };
}

/** Which of `names` were loaded (the tests expect none). */
const loadedOf = (loaded: Set<string>, names: string[]) => names.filter((name) => loaded.has(name));

afterAll(() => rmSync(traceDir, { recursive: true, force: true }));

describe.skipIf(CANNOT_TRACE)('tessera --help and --version load only the command declarations', SLOW, () => {
  let storage: Storage;
  beforeAll(async () => {
    storage = await createStorage('tessera-trace-help-');
  });
  afterAll(() => storage?.drop());

  it.each([[['--version']], [['--help']], [['client', 'create', '--help']], [['user']]])('tessera %j', async (args) => {
    const { result, packages, sources } = await traced(storage, args);
    expect(result.code, describeResult(result)).toBe(args[0] === 'user' ? 2 : 0);
    expect([...packages]).toEqual([]);
    const beyondTheCli = sources.filter((s) => !s.startsWith('src/cli/') && !['bin/tessera.js', 'src/errors.ts', 'src/problem.ts', 'src/logger.ts', 'src/services/page-size.ts'].includes(s));
    expect(beyondTheCli).toEqual([]);
  });
});

describe.skipIf(ON_POSTGRES || CANNOT_TRACE)('a command the running embedded server answers (control socket)', SLOW, () => {
  let storage: Storage;
  let server: TestServer;
  beforeAll(async () => {
    storage = await createStorage('tessera-trace-socket-');
    server = await startTestServer({ dataDir: storage.dataDir });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await storage?.drop();
  });

  it.each([[['user', 'list', '--json']], [['keys', 'list', '--json']], [['client', 'create', '--name', 'Traced', '--json']]])(
    'tessera %j loads neither the engine, the host, the database nor the services',
    async (args) => {
      const { result, packages, sources } = await traced(storage, args);
      expectJson(result);
      expect(loadedOf(packages, [...SERVER_PACKAGES, ...DATABASE_PACKAGES, 'pino'])).toEqual([]);
      expect(sources).not.toContain('src/server.ts');
      expect(sources).not.toContain('src/services/operations.ts');
      // The input schemas name a few constants of the client and upstream rules, whose modules import a few
      // store helpers (no driver); nothing of the engine or the host.
      expect(sources).not.toContain('src/store/db.ts');
      expect(sources.filter((s) => /^src\/(oidc|http)\/|^src\/(app|runtime|service-context)\.ts$/.test(s))).toEqual([]);
    },
  );
});

describe.skipIf(CANNOT_TRACE)(`a command on a connection of its own (${ON_POSTGRES ? 'PostgreSQL' : 'embedded PGlite, no server running'})`, SLOW, () => {
  let storage: Storage;
  beforeAll(async () => {
    storage = await createStorage('tessera-trace-direct-');
  });
  afterAll(() => storage?.drop());

  const appliedMigrations = async () => {
    const db = createDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
    try {
      return (await db('knex_migrations').orderBy('id').pluck('name')) as string[];
    } finally {
      await db.destroy();
    }
  };

  it('migrates a new database first, as before, and loads the database but not the engine or the host', async () => {
    const { result, packages } = await traced(storage, ['user', 'list', '--json']);
    expect(expectJson(result)).toEqual({ users: [] });
    expect(await appliedMigrations()).toEqual(migrations.map(([name]) => name));
    expect(packages.has('knex')).toBe(true);
    expect(packages.has(ON_POSTGRES ? 'pg' : '@electric-sql/pglite')).toBe(true);
    expect(loadedOf(packages, SERVER_PACKAGES)).toEqual([]);
    // On PostgreSQL the embedded driver stays unloaded; making keys is not listing them (jose).
    expect(loadedOf(packages, ON_POSTGRES ? ['@electric-sql/pglite', 'knex-pglite', 'jose'] : ['jose'])).toEqual([]);
  });

  it('builds the engine only for an operation that issues with it (an initial access token)', async () => {
    const { result, packages } = await traced(storage, ['iat', 'create', '--max-uses', '1', '--json']);
    expect(expectJson<{ initial_access_token: string }>(result).initial_access_token).toEqual(expect.any(String));
    expect(packages.has('oidc-provider')).toBe(true);
  });

  it('refuses a database holding a migration this code does not know (a newer version migrated it), and runs again once it is gone', async () => {
    const future = '29991231000000_from_a_newer_version';
    const db = createDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
    try {
      await db('knex_migrations').insert({ name: future, batch: 99, migration_time: new Date() });
    } finally {
      await db.destroy();
    }
    const refused = await runCli(storage, ['user', 'list', '--json']);
    expect(expectOneLineFailure(refused, 1)).toContain(future);

    const again = createDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
    try {
      await again('knex_migrations').where({ name: future }).delete();
    } finally {
      await again.destroy();
    }
    expect(expectJson((await runCli(storage, ['user', 'list', '--json'])))).toEqual({ users: [] });
  });
});
