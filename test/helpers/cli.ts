// The `tessera` command as an operator runs it, for tests: a real child process (bin/tessera.js) with a
// controlled environment, on storage of its own — a PGlite directory on disk, or a fresh PostgreSQL
// database when DATABASE_URL is set — and the checks every CLI test makes of its output.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { TEST_SECRET } from './server.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI_TIMEOUT_MS = 90_000;

/** Variables the CLI reads; removed from the inherited environment so the developer's shell cannot leak in. */
const CONFIG_VARIABLES = [
  'PORT', 'HOST', 'ISSUER', 'DATABASE_URL', 'DATABASE_POOL_MAX', 'TESSERA_DATA_DIR', 'TESSERA_SECRET', 'TRUST_PROXY',
  'LOG_LEVEL', 'ACCESS_TOKEN_TTL', 'ID_TOKEN_TTL', 'REFRESH_TOKEN_TTL', 'AUTHORIZATION_CODE_TTL', 'SESSION_TTL',
  'INTERACTION_TTL', 'DEFAULT_AUDIENCE', 'CLEANUP_INTERVAL', 'ARGON2_MEMORY_KIB', 'ARGON2_TIME_COST', 'ARGON2_PARALLELISM',
  'KEY_ROTATION_INTERVAL', 'KEY_PREPUBLISH', 'KEY_POLL_INTERVAL', 'JWKS_MAX_AGE', 'CLIENT_SECRET_GRACE',
  'UPSTREAM_ALLOW_HTTP', 'OUTBOUND_ALLOW_PRIVATE', 'BACKCHANNEL_LOGOUT_ALLOW_PRIVATE', 'REGISTRATION_FETCH_ALLOW_PRIVATE', 'REGISTRATION_POLICY', 'METRICS_PORT', 'METRICS_HOST', 'METRICS_TOKEN',
  'AUDIT_RETENTION_DAYS', 'SHUTDOWN_DELAY', 'SHUTDOWN_TIMEOUT',
];

/** Where one CLI "installation" keeps its data: a data directory, plus a PostgreSQL database when testing on PostgreSQL. */
export interface Storage {
  dataDir: string;
  databaseUrl: string | undefined;
  drop(): Promise<void>;
}

export async function createStorage(prefix = 'tessera-cli-'): Promise<Storage> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const database: TestDatabase = await createTestDatabase();
  return {
    dataDir,
    databaseUrl: database.databaseUrl,
    async drop() {
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function cliEnv(storage: Storage, overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete env[name];
  env.TESSERA_DATA_DIR = storage.dataDir;
  env.TESSERA_SECRET = TEST_SECRET;
  env.LOG_LEVEL = 'warn';
  if (storage.databaseUrl) env.DATABASE_URL = storage.databaseUrl;
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `tessera <args>` to completion; stdin gets `input` (or nothing) and is then closed. */
export function runCli(
  storage: Storage,
  args: string[],
  options: { input?: string; env?: Record<string, string | undefined>; killAfterMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/tessera.js', ...args], { cwd: ROOT, env: cliEnv(storage, options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // A command that hangs (e.g. a server that started despite bad configuration) fails the test instead of blocking it.
    const guard = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? CLI_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the command may exit before reading stdin (usage errors)
    child.stdin.end(options.input ?? '');
  });
}

export function describeResult(r: CliResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Asserts a clean failure: the exit code, nothing on stdout, one readable line on stderr, no stack trace. */
export function expectOneLineFailure(r: CliResult, code: number): string {
  expect(r.code, describeResult(r)).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr).not.toContain('    at ');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^tessera: \S/);
  return lines[0]!;
}

export function expectJson<T = any>(r: CliResult): T {
  expect(r.code, describeResult(r)).toBe(0);
  return JSON.parse(r.stdout) as T;
}
