// The `tessera` command for tests, on storage of its own — a PGlite directory on disk, or a fresh
// PostgreSQL database when DATABASE_URL is set — run two ways: as an operator runs it, a real child process
// (bin/tessera.js: runCli), or in this process through the same main(argv, io) (runCliInProcess, and
// openCliSession, whose commands share one opened database instead of opening it per command); and the
// checks every CLI test makes of its output.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { CONFIG_VARIABLES, parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { openRuntime, type Runtime } from '../../src/runtime.ts';
import { main } from '../../src/cli/index.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { TEST_SECRET } from './server.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI_TIMEOUT_MS = 90_000;

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
  // Every variable the configuration reads (config.ts's own list, so none is missed), so that the
  // developer's shell cannot leak in.
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

/**
 * Runs `tessera <args>` to completion as a child process; stdin gets `input` (or nothing) and is then closed.
 * `cwd` is the working directory (default: the repository root).
 */
export function runCli(
  storage: Storage,
  args: string[],
  options: { input?: string; env?: Record<string, string | undefined>; killAfterMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/tessera.js'), ...args], { cwd: options.cwd ?? ROOT, env: cliEnv(storage, options.env), stdio: ['pipe', 'pipe', 'pipe'] });
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

export interface InProcessOptions {
  /** Standard input (default: empty, as runCli gives a child). */
  input?: string;
  env?: Record<string, string | undefined>;
  /** An open runtime on the same storage for the command to use instead of opening the database. */
  runtime?: Runtime;
}

/**
 * Runs `tessera <args>` in this process: main(argv, io) with the environment runCli would give a child
 * and its output collected. What is left is the command itself: no Node start-up, and with `runtime`, no
 * database to open.
 */
export async function runCliInProcess(storage: Storage, args: string[], options: InProcessOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(
    args,
    {
      env: cliEnv(storage, options.env),
      stdin: options.input ?? '',
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    },
    options.runtime ? { runtime: options.runtime } : {},
  );
  return { code, signal: null, stdout, stderr };
}

/** Commands run in this process on one database opened (and migrated) once for them all. */
export interface CliSession {
  /** `tessera <args>` on the session's database; `env` adds to the session's (never another storage). */
  run(args: string[], options?: { input?: string; env?: Record<string, string | undefined> }): Promise<CliResult>;
  runtime: Runtime;
  /** Closes the database (idempotent): needed before anything else opens an embedded data directory. */
  close(): Promise<void>;
}

export async function openCliSession(storage: Storage, env: Record<string, string | undefined> = {}): Promise<CliSession> {
  const parsed = parseConfig(cliEnv(storage, env));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  const runtime = await openRuntime(parsed.config, createLogger('silent'));
  let closed = false;
  return {
    runtime,
    run(args, options = {}) {
      if (closed) throw new Error('the CLI session is closed');
      return runCliInProcess(storage, args, { input: options.input, env: { ...env, ...options.env }, runtime });
    },
    async close() {
      if (closed) return;
      closed = true;
      await runtime.close();
    },
  };
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
