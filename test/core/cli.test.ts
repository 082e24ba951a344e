// The `tessera` command. Nearly every test calls it in this process — main(argv, io), the function
// bin/tessera.js runs — for its flags, output, exit codes and what it does to the database, most of them on
// one database opened once (a session). A handful run it as an operator does, a real child process
// (bin/tessera.js) with a controlled environment, where the process itself is the point: its start-up and
// exit status, its working directory, a password piped to its stdin, and `tessera serve` — the server other
// commands reach through its control socket, stopped by a signal, and a second one refused. Storage is a
// PGlite directory on disk, or a fresh PostgreSQL database when DATABASE_URL is set.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { loadCookieKeys, loadSigningKeys } from '../../src/domain/keys.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { commands } from '../../src/cli/index.ts';
import { serveSettings } from '../../bin/serve-settings.js';
import { allFlags, usageLine } from '../../src/cli/command.ts';
import { freePort, startTestServer, type TestServer } from '../helpers/server.ts';
import { authorize, basic, discover, exchange, postForm, REDIRECT_URI } from '../helpers/oauth.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import {
  cliEnv,
  createStorage,
  describeResult,
  expectJson,
  expectOneLineFailure,
  openCliSession,
  ROOT,
  runCli,
  runCliInProcess,
  type CliResult,
  type CliSession,
  type Storage,
} from '../helpers/cli.ts';

const ON_POSTGRES = Boolean(process.env.DATABASE_URL);
/** For `serve` runs that must refuse to start: if one serves instead, stop it rather than wait for the full guard. */
const REFUSAL_KILL_MS = 45_000;
const SLOW = { timeout: 180_000 };

const PASSWORD = 'correct horse battery';

type Run = (args: string[], options?: { input?: string }) => Promise<CliResult>;

const createUser = (run: Run, username: string, password = PASSWORD, extra: string[] = []) =>
  run(['user', 'create', '--username', username, ...extra, '--password-stdin', '--json'], { input: `${password}\n` });

const createClient = (run: Run, args: string[]) => run(['client', 'create', ...args, '--json']);

/** A storage whose data directory does not exist (and must not come to exist); nothing opens a database on it. */
function missingStorage(): Storage & { parent: string } {
  const parent = mkdtempSync(join(tmpdir(), 'tessera-cli-missing-'));
  return { parent, dataDir: join(parent, 'data'), databaseUrl: undefined, drop: async () => rmSync(parent, { recursive: true, force: true }) };
}

describe('tessera --help, --version and command-line mistakes (in process)', () => {
  // Nothing here reaches storage: help, the version and usage errors are answered before it is opened.
  let storage: Storage;
  beforeAll(() => {
    storage = missingStorage();
  });
  afterAll(() => storage?.drop());
  const run = (args: string[], env: Record<string, string | undefined> = {}) => runCliInProcess(storage, args, { env });
  const names = commands.map((c) => c.name);

  it('prints an overview naming every command for `tessera`, `tessera --help` and `tessera help` (exit 0)', async () => {
    for (const args of [[], ['--help'], ['-h'], ['help']]) {
      const r = await run(args);
      expect(r.code, describeResult(r)).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^usage: tessera <command>/);
      for (const name of names) expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
      expect(r.stdout).toContain('--help');
      expect(r.stdout).toContain('--init');
    }
  });

  it.each(names)('`tessera %s --help` prints its usage line, one line per flag and an example (exit 0)', async (name) => {
    const spec = commands.find((c) => c.name === name)!;
    const r = await run([...name.split(' '), '--help']);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(usageLine(spec));
    expect(lines[0]).toMatch(new RegExp(`^usage: tessera ${name}( |$)`));
    for (const flag of Object.keys(allFlags(spec))) {
      const described = lines.filter((l) => new RegExp(`^  (-h, )?--${flag}( \\S+)? +\\S`).test(l));
      expect(described, `--${flag}`).toHaveLength(1);
    }
    expect(lines).toContain('Example:');
    const example = lines[lines.indexOf('Example:') + 1]!;
    expect(example).toContain(`tessera ${name}`);
    expect(lines.indexOf('Example:')).toBe(lines.length - 2); // one example, last
  });

  it('answers --help before anything else: with -h, after other flags, next to an unknown flag, as `tessera help <command>`, and without a valid configuration', async () => {
    const expected = (await run(['client', 'create', '--help'])).stdout;
    for (const args of [
      ['client', 'create', '-h'],
      ['client', 'create', '--name', 'X', '--help'],
      ['client', 'create', '--no-such-flag', '--help'],
      ['help', 'client', 'create'],
    ]) {
      const r = await run(args, { PORT: 'not-a-port' });
      expect(r.code, `${args.join(' ')}\n${describeResult(r)}`).toBe(0);
      expect(r.stdout).toBe(expected);
    }
    expect(existsSync(storage.dataDir)).toBe(false);
  });

  it('keeps each usage line and its flags in step: every flag a command takes is in its usage line, and the line names no other', () => {
    for (const spec of commands) {
      const named = new Set([...usageLine(spec).matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!));
      const accepted = new Set(Object.keys(allFlags(spec)).filter((f) => f !== 'help' && f !== 'init'));
      expect([...named].sort(), spec.name).toEqual([...accepted].sort());
    }
  });

  it('prints the package.json version for `tessera --version` and `tessera version` (exit 0)', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['version']]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`tessera ${version}\n`);
      expect(r.stderr).toBe('');
    }
  });

  it('lists a group\'s commands for `tessera <group> --help`; the group alone is a usage error naming them', async () => {
    const help = await run(['user', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: tessera user <command>/);
    for (const name of names.filter((n) => n.startsWith('user '))) expect(help.stdout).toContain(`  ${name} `);
    expect(help.stdout).not.toContain('client create');

    const line = expectOneLineFailure(await run(['user']), 2);
    expect(line).toContain('create, list, show');
    expect(line).toContain('tessera user --help');
  });

  it('refuses an unknown command with exit 2 and one line pointing at --help', async () => {
    expect(expectOneLineFailure(await run(['frobnicate']), 2)).toMatch(/unknown command "frobnicate".*tessera --help/);
    expect(expectOneLineFailure(await run(['user', 'frobnicate', '--json']), 2)).toMatch(/unknown command "user frobnicate".*tessera user --help/);
  });

  it('refuses an unknown flag, a flag without its value and a stray argument (exit 2, one line pointing at the command\'s --help)', async () => {
    for (const args of [
      ['client', 'create', '--name', 'X', '--no-such-flag'],
      ['client', 'create', '--name'],
      ['user', 'show', 'alice'],
      ['serve', '--port', '3000'],
    ]) {
      const line = expectOneLineFailure(await run(args), 2);
      expect(line).toContain(`tessera ${args[0]}${args[0] === 'serve' ? '' : ` ${args[1]}`} --help`);
    }
    expect(existsSync(storage.dataDir)).toBe(false);
  });
});

describe('an embedded data directory that does not exist (in process)', SLOW, () => {
  let storage: Storage & { parent: string };
  beforeAll(() => {
    storage = missingStorage();
  });
  afterAll(() => storage?.drop());

  it.each([
    ['user list'],
    ['user create --username zoe --password-stdin'],
    ['client create --name X'],
    ['migrate'],
    ['keys list'],
    ['admin bootstrap'],
    ['resource list'],
    ['upstream list'],
  ])('refuses `tessera %s` with exit 1 and one line naming the directory and TESSERA_DATA_DIR, and creates nothing', async (command) => {
    const r = await runCliInProcess(storage, command.split(' '), { input: `${PASSWORD}\n` });
    const line = expectOneLineFailure(r, 1);
    expect(line).toContain(storage.dataDir);
    expect(line).toContain('TESSERA_DATA_DIR');
    expect(line).toContain('--init');
    expect(existsSync(storage.dataDir)).toBe(false);
  });

  it('names the directory a relative TESSERA_DATA_DIR resolves to, and says when it is the default', async () => {
    const relativeDir = relative(process.cwd(), storage.dataDir);
    const named = expectOneLineFailure(await runCliInProcess(storage, ['user', 'list'], { env: { TESSERA_DATA_DIR: relativeDir } }), 1);
    expect(named).toContain(`the data directory ${storage.dataDir} does not exist (TESSERA_DATA_DIR is ${relativeDir})`);
    if (!existsSync(join(process.cwd(), '.data'))) {
      const byDefault = expectOneLineFailure(await runCliInProcess(storage, ['user', 'list'], { env: { TESSERA_DATA_DIR: undefined } }), 1);
      expect(byDefault).toContain(`the data directory ${join(process.cwd(), '.data')} does not exist (TESSERA_DATA_DIR is not set: default ./.data)`);
      expect(existsSync(join(process.cwd(), '.data'))).toBe(false);
    }
  });

  it('doctor reports it as a failed check (exit 1) without creating it', async () => {
    const r = await runCliInProcess(storage, ['doctor', '--json'], { env: { ISSUER: `http://127.0.0.1:${await freePort()}` } });
    expect(r.code, describeResult(r)).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string }> };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'data directory')).toMatchObject({ status: 'fail', detail: expect.stringContaining(`${storage.dataDir} does not exist`) });
    expect(report.checks.find((c) => c.name === 'database')).toBeUndefined();
    expect(existsSync(storage.dataDir)).toBe(false);
    expect(expectOneLineFailure(await runCliInProcess(storage, ['doctor', '--init']), 2)).toContain('--init');
  });

  // Embedded mode whatever the suite's database; the PGlite run covers it (it starts a PGlite cluster).
  it.skipIf(ON_POSTGRES)('creates it owner-only with --init, and the command runs there', async () => {
    const made = expectJson<{ username: string }>(await createUser((args, o) => runCliInProcess(storage, [...args, '--init'], o), 'zoe'));
    expect(made.username).toBe('zoe');
    expect(statSync(storage.dataDir).mode & 0o777).toBe(0o700);
    expect(existsSync(join(storage.dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
  });

  it.runIf(ON_POSTGRES)('is not needed on PostgreSQL: commands run and create no directory', async () => {
    const pg = await createStorage('tessera-cli-pg-');
    try {
      const nowhere = join(storage.parent, 'pg-data');
      const r = await runCliInProcess({ ...pg, dataDir: nowhere }, ['user', 'list', '--json']);
      expect(expectJson(r)).toEqual({ users: [] });
      expect(existsSync(nowhere)).toBe(false);
    } finally {
      await pg.drop();
    }
  });
});

describe('tessera as a real process (smoke tests)', SLOW, () => {
  // bin/tessera.js around main(): start-up, arguments, output and exit status, and the process's working
  // directory. Neither command opens a database (the data directory does not exist and is not created).
  let storage: Storage & { parent: string };
  beforeAll(() => {
    storage = missingStorage();
  });
  afterAll(() => storage?.drop());

  it('prints a command\'s help (exit 0), the same as in process', async () => {
    const help = await runCli(storage, ['client', 'create', '--help']);
    expect(help.code, describeResult(help)).toBe(0);
    expect(help.stdout).toMatch(/^usage: tessera client create --name N /);
    expect(help.stdout).toBe((await runCliInProcess(storage, ['client', 'create', '--help'])).stdout);
    expect(help.stderr).toBe('');
    expect(existsSync(storage.dataDir)).toBe(false);
  });

  it('run from another directory without TESSERA_DATA_DIR, refuses to create ./.data there (exit 1, one line naming it)', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'tessera-cli-elsewhere-'));
    try {
      const r = await runCli(storage, ['client', 'create', '--name', 'Lost', '--json'], { cwd: elsewhere, env: { TESSERA_DATA_DIR: undefined, DATABASE_URL: undefined } });
      const line = expectOneLineFailure(r, 1);
      expect(line).toContain(join(elsewhere, '.data'));
      expect(line).toContain('TESSERA_DATA_DIR');
      expect(existsSync(join(elsewhere, '.data'))).toBe(false);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

// One storage for the rest of the in-process tests: first new and empty, for migrate and doctor (each command
// opening the database itself, as the process does); then opened once for the commands that follow (a session).
describe('tessera CLI on its own storage (in process)', SLOW, () => {
  let storage: Storage;
  beforeAll(async () => {
    storage = await createStorage();
  });
  afterAll(() => storage?.drop());

  describe('migrate and doctor on a new database', () => {
    it('applies every migration the first time and reports an empty list the second time', async () => {
      // Nothing listens at the issuer doctor is given: that check only warns, whatever runs on this machine.
      const issuer = { ISSUER: `http://127.0.0.1:${await freePort()}` };
      // Before: doctor reports the pending migrations as the problem to fix (exit 1), without applying them.
      const before = await runCliInProcess(storage, ['doctor', '--json'], { env: issuer });
      expect(before.code, describeResult(before)).toBe(1);
      const report = JSON.parse(before.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string }> };
      expect(report.ok).toBe(false);
      expect(report.checks.find((c) => c.name === 'migrations')).toMatchObject({ status: 'fail' });
      expect(report.checks.find((c) => c.name === 'database')).toMatchObject({ status: 'ok' });

      const first = expectJson<{ applied: string[] }>(await runCliInProcess(storage, ['migrate', '--json']));
      expect(first).toEqual({ applied: migrations.map(([name]) => name) });
      expect(first.applied.length).toBeGreaterThan(0);

      const second = expectJson<{ applied: string[] }>(await runCliInProcess(storage, ['migrate', '--json']));
      expect(second).toEqual({ applied: [] });

      const after = expectJson<{ ok: boolean; checks: Array<{ name: string; status: string }> }>(await runCliInProcess(storage, ['doctor', '--json'], { env: issuer }));
      expect(after.ok).toBe(true);
      expect(after.checks.find((c) => c.name === 'migrations')).toMatchObject({ status: 'ok' });
      expect(after.checks.find((c) => c.name === 'clock')).toMatchObject({ status: expect.stringMatching(/ok|warn/) });
    });

    it('doctor finds a database it cannot reach (exit 1, readable report)', async () => {
      // Nothing listens at the issuer either: that check only warns, without waiting for a server.
      const r = await runCliInProcess(storage, ['doctor'], { env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere', ISSUER: `http://127.0.0.1:${await freePort()}` } });
      expect(r.code, describeResult(r)).toBe(1);
      expect(r.stdout).toMatch(/FAIL\s+database\s+unreachable/);
      expect(r.stderr).not.toContain('    at ');
    });
  });

  describe('commands on one opened database', () => {
    let cli: CliSession;
    const run: Run = (args, options) => cli.run(args, options);
    beforeAll(async () => {
      cli = await openCliSession(storage);
    });
    afterAll(() => cli?.close());

    describe('user create', () => {
      it('creates a user from a password on stdin and prints its id and username as JSON', async () => {
        const r = await createUser(run, 'carol', PASSWORD, ['--email', 'carol@example.test', '--name', 'Carol Example']);
        const user = expectJson<{ id: string; username: string; email: string; name: string }>(r);
        expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(user).toMatchObject({ username: 'carol', email: 'carol@example.test', name: 'Carol Example' });
        expect(r.stdout).not.toContain(PASSWORD);
        expect(r.stderr).not.toContain(PASSWORD);
      });

      it('refuses a duplicate username with exit 1 and one readable line on stderr', async () => {
        const line = expectOneLineFailure(await createUser(run, 'carol', 'another good password'), 1);
        expect(line).toContain('carol');
        expect(line).toMatch(/already (taken|exists)/);
      });

      it('refuses a password shorter than 8 characters', async () => {
        const r = await createUser(run, 'dave', 'short');
        const line = expectOneLineFailure(r, 1);
        expect(line).toMatch(/password/);
        expect(line).toContain('8');
        expect(r.stderr).not.toContain('short');
      });

      it('treats a missing --password-stdin as a usage error (exit 2)', async () => {
        const r = await run(['user', 'create', '--username', 'erin', '--json'], { input: `${PASSWORD}\n` });
        const line = expectOneLineFailure(r, 2);
        expect(line).toContain('--password-stdin');
      });
    });

    describe('client create', () => {
      it('creates a confidential authorization-code client with a 256-bit secret by default', async () => {
        const client = expectJson<ClientMetadata>(await createClient(run, ['--name', 'Web App', '--redirect-uri', 'https://app.example/callback']));
        expect(client.client_id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
        expect(client.client_name).toBe('Web App');
        expect(client.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(Buffer.from(client.client_secret!, 'base64url')).toHaveLength(32);
        expect(client.grant_types).toEqual(['authorization_code', 'refresh_token']);
        expect(client.response_types).toEqual(['code']);
        expect(client.redirect_uris).toEqual(['https://app.example/callback']);
        expect(client.token_endpoint_auth_method).toBe('client_secret_basic');
      });

      it('creates a client_credentials client with the given scopes and no redirect URIs', async () => {
        const client = expectJson<ClientMetadata>(await createClient(run, ['--name', 'Billing', '--grant-type', 'client_credentials', '--scope', 'a b']));
        expect(client.grant_types).toEqual(['client_credentials']);
        expect(client.response_types).toEqual([]);
        expect(client.redirect_uris).toEqual([]);
        expect(client.scope).toBe('a b');
        expect(client.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      });

      it('creates a public client without a secret for --auth-method none', async () => {
        const client = expectJson<ClientMetadata>(await createClient(run, ['--name', 'SPA', '--redirect-uri', 'http://127.0.0.1:8080/cb', '--auth-method', 'none']));
        expect(client.token_endpoint_auth_method).toBe('none');
        expect(client).not.toHaveProperty('client_secret');
        expect(client.grant_types).toEqual(['authorization_code', 'refresh_token']);
      });

      it.each([
        { problem: 'plain http on a non-loopback host', uri: 'http://app.example/callback', message: /https/ },
        { problem: 'a fragment', uri: 'https://app.example/callback#frag', message: /fragment/ },
        { problem: 'the javascript: scheme', uri: 'javascript:alert(1)', message: /scheme/ },
      ])('refuses a redirect URI with $problem (exit 1, message names the problem)', async ({ uri, message }) => {
        const line = expectOneLineFailure(await createClient(run, ['--name', 'Bad', '--redirect-uri', uri]), 1);
        expect(line).toContain(uri);
        expect(line).toMatch(message);
      });

      it('treats an unknown flag as a usage error (exit 2)', async () => {
        const line = expectOneLineFailure(await createClient(run, ['--name', 'X', '--no-such-flag']), 2);
        expect(line).toContain('--no-such-flag');
      });
    });

    describe('encryption at rest', () => {
      let server: TestServer | undefined;
      afterAll(() => server?.stop());

      it('stores the client secret and private keys only in sealed form', async () => {
        const client = expectJson<ClientMetadata>(await createClient(run, ['--name', 'Sealed', '--grant-type', 'client_credentials', '--scope', 'reports']));
        const secret = client.client_secret!;
        const rawSecret = Buffer.from(secret, 'base64url');

        // The CLI is done with the storage (one process per embedded data directory); the real server now
        // opens the same storage (and creates its keys).
        await cli.close();
        server = await startTestServer(storage.databaseUrl ? { env: { DATABASE_URL: storage.databaseUrl } } : { dataDir: storage.dataDir });
        const db = server.runtime.db;

        const rows = await db('clients').select('id', db.raw('metadata::text as metadata'), 'secret_sealed');
        const row = rows.find((r: { id: string }) => r.id === client.client_id);
        expect(row, 'client row').toBeDefined();
        expect(row.secret_sealed).toEqual(expect.any(String));
        for (const column of [row.metadata as string, row.secret_sealed as string]) {
          expect(column).not.toContain(secret);
          expect(column).not.toContain(rawSecret.toString('base64'));
          expect(column).not.toContain(rawSecret.toString('hex'));
        }
        // Refused registrations left nothing behind.
        expect(rows.map((r: { metadata: string }) => r.metadata).join('\n')).not.toMatch(/app\.example\/callback#|javascript:|http:\/\/app\.example/);

        // The server opens the sealed secret with the instance secret: the client authenticates.
        const res = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials', scope: 'reports' }, basic(client));
        expect(res.status).toBe(200);
        expect((await res.json()).access_token).toEqual(expect.any(String));

        const keyRows = (await db.raw('select kid, public_jwk::text as public_jwk, private_sealed from keys')).rows as Array<Record<string, string | null>>;
        expect(keyRows.length).toBeGreaterThanOrEqual(4); // three signing algorithms and a cookie key
        const privateValues = [
          ...(await loadSigningKeys(db, server.runtime.box)).flatMap((jwk) => [jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi]),
          ...(await loadCookieKeys(db, server.runtime.box)),
        ].filter((v): v is string => typeof v === 'string');
        expect(privateValues.length).toBeGreaterThanOrEqual(4);
        for (const row of keyRows) {
          for (const text of [row.public_jwk ?? '', row.private_sealed ?? '']) {
            expect(text).not.toMatch(/"(d|p|q|dp|dq|qi|k)"\s*:/);
            for (const value of privateValues) expect(text).not.toContain(value);
          }
        }
      });
    });
  });
});

describe('invalid configuration (in process)', SLOW, () => {
  let storage: Storage;
  beforeAll(() => {
    storage = { dataDir: mkdtempSync(join(tmpdir(), 'tessera-cli-config-')), databaseUrl: undefined, drop: async () => {} };
  });
  afterAll(() => rmSync(storage.dataDir, { recursive: true, force: true }));

  it.each([
    { variable: 'PORT', env: { PORT: 'abc' } },
    { variable: 'ISSUER', env: { ISSUER: 'not-a-url' } },
    { variable: 'TESSERA_SECRET', env: { DATABASE_URL: 'postgres://x', TESSERA_SECRET: undefined } },
  ])('serve refuses a bad $variable with one line naming it and no stack trace', async ({ variable, env }) => {
    const r = await runCliInProcess(storage, ['serve'], { env: { PORT: '0', HOST: '127.0.0.1', ...env } });
    expect(r.code, describeResult(r)).toBe(2); // returned by itself (no server started), as a usage error
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toContain('    at ');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^tessera: .*\\b${variable}\\b`));
    expect(r.stderr).toMatch(/^tessera: [^\n]*\n$/); // the line ends the output
  });

  it('serve reports every bad variable, one line each', async () => {
    const r = await runCliInProcess(storage, ['serve'], { env: { PORT: 'abc', ISSUER: 'not-a-url', HOST: '127.0.0.1' } });
    expect(r.code, describeResult(r)).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toContain('    at ');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(2);
    expect(lines.filter((l) => /\bPORT\b/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /\bISSUER\b/.test(l))).toHaveLength(1);
  });
});

interface ServeProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  stop(): Promise<void>;
}

async function startServe(storage: Storage): Promise<ServeProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [join(ROOT, 'bin/tessera.js'), 'serve'], {
    cwd: ROOT,
    // A short key poll: on PostgreSQL the CLI rotates keys in the database and the server follows on its poll.
    env: cliEnv(storage, { PORT: String(port), HOST: '127.0.0.1', ISSUER: url, KEY_POLL_INTERVAL: '1' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));
  const serve: ServeProcess = {
    child,
    url,
    output: () => output,
    async stop() {
      if (!running) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
  // Wait until the server answers (bounded, so a server that never comes up fails with its output).
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (!running) throw new Error(`tessera serve exited before answering:\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return serve;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await serve.stop();
      throw new Error(`tessera serve did not answer /healthz:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

// The server is a real process. Commands run as real processes where that is the point (a password piped
// in, a second serve); the others run in this process, reaching the server the same way a process does (its
// control socket in embedded mode; on PostgreSQL, the database).
describe(`CLI next to a running \`tessera serve\` (${ON_POSTGRES ? 'PostgreSQL' : 'embedded PGlite directory'})`, SLOW, () => {
  let storage: Storage;
  let serve: ServeProcess | undefined;
  let user: { id: string; username: string };
  const inProcess: Run = (args, options) => runCliInProcess(storage, args, options);
  const asProcess: Run = (args, options) => runCli(storage, args, options);

  beforeAll(async () => {
    const own = await createStorage();
    // A data directory that does not exist yet: serve creates it (other commands would refuse).
    storage = { ...own, dataDir: join(own.dataDir, 'data') };
    serve = await startServe(storage);
  }, 180_000);
  afterAll(async () => {
    await serve?.stop();
    await storage?.drop();
  });

  it.skipIf(ON_POSTGRES)('serve creates a data directory that does not exist yet, owner-only (embedded mode)', () => {
    expect(statSync(storage.dataDir).mode & 0o777).toBe(0o700);
    expect(existsSync(join(storage.dataDir, 'control.sock'))).toBe(true);
  });

  // bin/serve-settings.js: the process the supervisor started (same pid) runs with the memory settings (those
  // this test's own environment does not already give).
  const settings = serveSettings({
    args: ['serve'],
    execArgv: [],
    env: process.env,
    platform: process.platform,
    canExec: typeof process.execve === 'function',
    heapLimitMiB: getHeapStatistics().heap_size_limit / 1048576,
  });
  it.skipIf(process.platform !== 'linux' || !settings)('serve runs with its memory settings, in the process it was started as', () => {
    const pid = serve!.child.pid!;
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining([...settings!.flags, 'serve']));
    // (glibc rewrites the variable in the process's initial environment to the tunables it applied to itself;
    // which of them, depends on its version. The threshold is in every glibc since 2.26.)
    const tunables = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((v) => v.startsWith('GLIBC_TUNABLES='));
    if (settings!.env.GLIBC_TUNABLES?.includes('glibc.malloc.mmap_threshold=4194304')) expect(tunables).toContain('glibc.malloc.mmap_threshold=4194304');
  });

  it('creates a user while the server runs, and that user can sign in on the running server', async () => {
    // A real process with the password piped to its standard input (embedded mode: through the server's
    // control socket; on PostgreSQL, on a connection of its own).
    const created = await createUser(asProcess, 'frank', PASSWORD, ['--email', 'frank@example.test', '--name', 'Frank Example']);
    user = expectJson(created);
    expect(user).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), username: 'frank', email: 'frank@example.test' });
    expect(created.stdout + created.stderr).not.toContain(PASSWORD);
    expect(expectJson(await inProcess(['user', 'show', '--username', 'frank', '--json']))).toMatchObject({ id: user.id });
    const client = expectJson<ClientMetadata>(await createClient(inProcess, ['--name', 'Portal', '--redirect-uri', REDIRECT_URI]));

    const target = { issuer: serve!.url } as TestServer;
    const config = await discover(target, client);
    const result = await authorize(target, config, new BrowserSession(serve!.url), { username: 'frank', password: PASSWORD });
    const tokens = await exchange(config, result);
    expect(tokens.claims()?.sub).toBe(user.id);
  });

  it('creates a client while the server runs, and the running server issues it a client_credentials token', async () => {
    const client = expectJson<ClientMetadata>(await createClient(inProcess, ['--name', 'Worker', '--grant-type', 'client_credentials', '--scope', 'jobs:run']));
    const res = await postForm(`${serve!.url}/token`, { grant_type: 'client_credentials', scope: 'jobs:run' }, basic(client));
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'jobs:run' });
    expect(body.access_token).toEqual(expect.any(String));
  });

  it('rotates a signing key while the server runs, and the running server signs with it', async () => {
    const listed = expectJson<{ keys: Array<{ kid: string; alg: string | null; state: string }> }>(await inProcess(['keys', 'list', '--json']));
    const before = listed.keys.find((k) => k.alg === 'ES256' && k.state === 'current')!.kid;
    const rotated = expectJson<{ changes: Array<{ kid: string; change: string }> }>(await inProcess(['keys', 'rotate', '--alg', 'ES256', '--now', '--json']));
    const kid = rotated.changes.find((c) => c.change === 'activated')!.kid;
    expect(kid).not.toBe(before);
    const client = expectJson<ClientMetadata>(await createClient(inProcess, ['--name', 'Signer', '--grant-type', 'client_credentials']));
    let signedWith: string | undefined;
    for (let i = 0; i < 120 && signedWith !== kid; i++) {
      if (i) await new Promise((r) => setTimeout(r, 500));
      const res = await postForm(`${serve!.url}/token`, { grant_type: 'client_credentials' }, basic(client));
      const { access_token: token } = (await res.json()) as { access_token: string };
      signedWith = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid;
    }
    expect(signedWith).toBe(kid);
    expectOneLineFailure(await inProcess(['keys', 'retire', '--kid', 'no-such-key']), 1);
    // doctor sees the running server's keys (embedded mode: through the server itself).
    const report = expectJson<{ checks: Array<{ name: string; status: string }> }>(await inProcess(['doctor', '--json']));
    for (const name of ['ES256 keys', 'RS256 keys', 'EdDSA keys', 'cookie keys']) expect(report.checks.find((c) => c.name === name)).toMatchObject({ status: 'ok' });
  });

  it('rotates a client secret while the server runs: both secrets work during the grace period', async () => {
    const client = expectJson<ClientMetadata>(await createClient(inProcess, ['--name', 'Rotating', '--grant-type', 'client_credentials']));
    const rotated = expectJson<{ client_secret: string; previous_secret_expires_at: number }>(
      await inProcess(['client', 'rotate-secret', '--client-id', client.client_id, '--grace', '600', '--json']),
    );
    expect(rotated.previous_secret_expires_at).toBeGreaterThan(Date.now() / 1000);
    for (const secret of [client.client_secret!, rotated.client_secret]) {
      const res = await postForm(`${serve!.url}/token`, { grant_type: 'client_credentials' }, basic({ ...client, client_secret: secret }));
      expect(res.status).toBe(200);
    }
  });

  it.skipIf(ON_POSTGRES)(
    'refuses a second serve on the same embedded data directory and leaves the first one working (embedded mode only; on PostgreSQL several servers may share a database)',
    async () => {
      const port = await freePort();
      const r = await runCli(storage, ['serve'], { env: { PORT: String(port), HOST: '127.0.0.1' }, killAfterMs: REFUSAL_KILL_MS });
      expect(r.code, describeResult(r)).not.toBeNull(); // it stopped by itself instead of serving
      expect(r.code).not.toBe(0);
      expect(r.stderr).not.toContain('    at ');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^tessera: .*already serving/);

      // The first server still owns the directory: its control socket is in place and the CLI still goes through it.
      expect(existsSync(join(storage.dataDir, 'control.sock'))).toBe(true);
      expect((await fetch(`${serve!.url}/healthz`)).status).toBe(200);
      const client = expectJson<ClientMetadata>(await createClient(inProcess, ['--name', 'After', '--grant-type', 'client_credentials']));
      const res = await postForm(`${serve!.url}/token`, { grant_type: 'client_credentials' }, basic(client));
      expect(res.status).toBe(200);
    },
  );

  it('stops on SIGTERM: the server closes and the process exits with status 0', async () => {
    await serve!.stop();
    expect(serve!.child.signalCode, serve!.output()).toBeNull(); // not the SIGKILL stop() falls back to
    expect(serve!.child.exitCode, serve!.output()).toBe(0);
  });
});
