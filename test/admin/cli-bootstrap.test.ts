// `tessera admin bootstrap`: main(argv, io), the function bin/tessera.js runs, in this process on this file's
// own storage, opened once for its commands (test/core/cli.test.ts runs the real process); the credentials it
// prints then work against a server started on the same storage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestServer, type TestServer } from '../helpers/server.ts';
import { createStorage, openCliSession, type CliSession, type Storage } from '../helpers/cli.ts';
import { basic, postForm } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminApi } from './helpers.ts';

const SLOW = { timeout: 180_000 };

let storage: Storage;
let port: number;
let issuer: string;
let cli: CliSession;

const runCli = (args: string[]) => cli.run(args);

beforeAll(async () => {
  storage = await createStorage('tessera-admin-cli-');
  port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  cli = await openCliSession(storage, { ISSUER: issuer, PORT: String(port) });
});
afterAll(async () => {
  await cli?.close();
  await storage?.drop();
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
    await cli.close(); // one process per embedded data directory: the server's now
    server = await startTestServer({ ...(storage.databaseUrl ? { env: { DATABASE_URL: storage.databaseUrl, PORT: String(port), ISSUER: issuer } } : { dataDir: storage.dataDir, env: { PORT: String(port), ISSUER: issuer } }) });
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
