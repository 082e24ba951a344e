// Files at rest in embedded mode: the data directory — PGlite's files, whose WAL and tables hold argon2 hashes
// and sealed keys, the generated development secret, the control socket — is private to its owner (directories
// 0700, files 0600) whatever the umask, and `tessera doctor` fails on one that is not. Embedded mode only: these
// tests run on PGlite in a directory of their own, also when DATABASE_URL is set for the rest of the suite.
// The server runs in this process (the code `tessera serve` runs), and so does doctor: main(argv, io), the
// function bin/tessera.js runs, reaching the running server through its control socket as a process would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { runOperation } from '../../src/services/operations.ts';
import { freePort } from '../helpers/free-port.ts';
import { describeResult, runCliInProcess, type Storage } from '../helpers/cli.ts';

let parent: string;
let dataDir: string;
let originalUmask: number;

beforeAll(() => {
  // A permissive umask, as on a shared host set up carelessly: without our care every file would be 0666.
  originalUmask = process.umask(0o000);
  parent = mkdtempSync(join(tmpdir(), 'tessera-at-rest-'));
  dataDir = join(parent, 'data'); // not there yet: Tessera creates it
});
afterAll(() => {
  process.umask(originalUmask);
  rmSync(parent, { recursive: true, force: true });
});

/** Every path under `dir` (itself included) with its permission bits. */
function entries(dir: string): Array<{ path: string; mode: number }> {
  const found: Array<{ path: string; mode: number }> = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    found.push({ path, mode: stat.mode & 0o777 });
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return found;
}

function expectOwnerOnly(dir: string) {
  const all = entries(dir);
  expect(all.length).toBeGreaterThan(100); // PGlite's cluster is there, not an empty directory
  const open = all.filter((e) => (e.mode & 0o077) !== 0).map((e) => `${e.mode.toString(8)} ${e.path}`);
  expect(open).toEqual([]);
  expect(lstatSync(dir).mode & 0o777).toBe(0o700);
}

/** The real server on embedded PGlite in `dataDir`, without TESSERA_SECRET (so it writes the development secret). */
async function startEmbedded(): Promise<RunningServer> {
  const port = await freePort();
  const result = parseConfig({ PORT: String(port), HOST: '127.0.0.1', ISSUER: `http://127.0.0.1:${port}`, TESSERA_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  if (!result.ok) throw new Error(result.problems.join('; '));
  return startServer(result.config, createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() })));
}

const storage = (): Storage => ({ dataDir, databaseUrl: undefined, drop: async () => {} });
/** `tessera doctor --json` on this data directory, embedded, with its development secret. */
async function doctor() {
  const port = await freePort(); // nothing listens there: the issuer check only warns
  const r = await runCliInProcess(storage(), ['doctor', '--json'], { env: { DATABASE_URL: undefined, TESSERA_SECRET: undefined, ISSUER: `http://127.0.0.1:${port}` } });
  const report = JSON.parse(r.stdout || '{}') as { ok: boolean; checks: Array<{ name: string; status: string; detail: string }> };
  return { r, report, check: report.checks?.find((c) => c.name === 'data directory') };
}

describe('the embedded data directory', () => {
  it('is created owner-only under a permissive umask: directory 0700, PGlite files, development secret and control socket 0600', async () => {
    const server = await startEmbedded();
    try {
      // A password hash reaches the WAL.
      await runOperation(server.operations, 'user.create', { username: 'wal', password: 'correct horse battery', email: 'wal@example.test', name: 'Wal' });
      expect(existsSync(join(dataDir, 'dev-secret'))).toBe(true);
      expect(existsSync(join(dataDir, 'control.sock'))).toBe(true);
      expect(readdirSync(join(dataDir, 'pgdata', 'pg_wal')).length).toBeGreaterThan(0);
      expectOwnerOnly(dataDir);
    } finally {
      await server.close();
    }
    // Files PGlite writes as it shuts down too.
    expectOwnerOnly(dataDir);
  });

  it('makes an existing directory private again when it opens it, whatever was opened up by hand', async () => {
    for (const e of entries(dataDir)) chmodSync(e.path, lstatSync(e.path).isDirectory() ? 0o777 : 0o666);
    writeFileSync(join(dataDir, 'restored-from-backup'), 'x', { mode: 0o666 });
    const server = await startEmbedded();
    try {
      expectOwnerOnly(dataDir);
      expect(await runOperation(server.operations, 'user.show', { user: 'wal' })).toMatchObject({ username: 'wal' });
    } finally {
      await server.close();
    }
  });

  it('doctor fails on a data directory other users can open, with the server running and without it', async () => {
    expect((await doctor()).check).toMatchObject({ status: 'ok' });

    const server = await startEmbedded();
    try {
      chmodSync(dataDir, 0o777);
      const running = await doctor(); // the database checks run in the server, the directory is looked at here
      expect(running.r.code, describeResult(running.r)).toBe(1);
      expect(running.report.ok).toBe(false);
      expect(running.check).toMatchObject({ status: 'fail' });
      expect(running.check!.detail).toContain(`${dataDir} (0777)`);
      expect(running.report.checks.find((c) => c.name === 'database')).toMatchObject({ status: 'ok' });
    } finally {
      await server.close();
    }

    chmodSync(dataDir, 0o755);
    const stopped = await doctor(); // no server: doctor looks before it opens the database itself
    expect(stopped.r.code, describeResult(stopped.r)).toBe(1);
    expect(stopped.check).toMatchObject({ status: 'fail' });
    expect(stopped.check!.detail).toContain(`${dataDir} (0755)`);
    // Opening the database made it private again.
    expectOwnerOnly(dataDir);
    expect((await doctor()).check).toMatchObject({ status: 'ok' });
  });
});
