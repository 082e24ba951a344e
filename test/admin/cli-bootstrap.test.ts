// `tessera admin bootstrap` as an operator runs it: a real child process (bin/tessera.js) on this file's own
// storage; the credentials it prints then work against a server started on the same storage.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort, startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { basic, postForm } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminApi } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SLOW = { timeout: 180_000 };

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dataDir: string;
let database: TestDatabase;
let port: number;
let issuer: string;

function runCli(args: string[]): Promise<CliResult> {
  // Only what the command needs: nothing from the developer's shell configures it by accident.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TESSERA_DATA_DIR: dataDir, TESSERA_SECRET: TEST_SECRET, LOG_LEVEL: 'warn', ISSUER: issuer, PORT: String(port) };
  if (database.databaseUrl) env.DATABASE_URL = database.databaseUrl;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/tessera.js', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tessera-admin-cli-'));
  database = await createTestDatabase();
  port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('tessera admin bootstrap', SLOW, () => {
  let first: { client_id: string; client_secret: string; scope: string; audience: string; token_endpoint: string };
  let server: TestServer | undefined;
  // stop() drops only the spare database startTestServer made; this file's storage is dropped below.
  afterAll(() => server?.stop());

  it('prints the new admin client\'s credentials once, as JSON with --json', async () => {
    const r = await runCli(['admin', 'bootstrap', '--json']);
    expect(r.code, r.stderr).toBe(0);
    first = JSON.parse(r.stdout);
    expect(first).toEqual({
      client_id: expect.stringMatching(/^[A-Za-z0-9_-]{16,}$/),
      client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      scope: 'admin:*',
      audience: `${issuer}/admin`,
      token_endpoint: `${issuer}/token`,
    });
  });

  it('refuses a second bootstrap with exit 1 and one readable line, unless --force', async () => {
    const refused = await runCli(['admin', 'bootstrap', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^tessera: an admin client already exists \(.*\); .*--force/);
    expect(refused.stderr).toContain(first.client_id);

    const forced = await runCli(['admin', 'bootstrap', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/client_secret: +[A-Za-z0-9_-]{43} +\(shown once/);
    expect(forced.stdout).not.toContain(first.client_id);
  });

  it('gives credentials that get an admin token from a running server and call the API', async () => {
    server = await startTestServer({ ...(database.databaseUrl ? { env: { DATABASE_URL: database.databaseUrl, PORT: String(port), ISSUER: issuer } } : { dataDir, env: { PORT: String(port), ISSUER: issuer } }) });
    // No resource named: the client's default resource is the admin API.
    const res = await postForm(first.token_endpoint, { grant_type: 'client_credentials', scope: first.scope }, basic(first as ClientMetadata));
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    const clients = await adminApi(server, body.access_token).get('/clients');
    expect(clients.status).toBe(200);
    const admins = clients.body.items.filter((c: { scope?: string }) => c.scope === 'admin:*');
    expect(admins).toHaveLength(2);
    expect(admins[0]).toMatchObject({ client_id: first.client_id, default_resource: `${issuer}/admin`, grant_types: ['client_credentials'] });
  });
});
