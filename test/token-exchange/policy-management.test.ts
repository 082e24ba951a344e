// The token exchange policy as operators set it: `tessera client create/update` flags and the admin API,
// through the same rules (domain/client-metadata.ts), and what clients see of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createStorage, openCliSession, type CliSession, type Storage } from '../helpers/cli.ts';
import { adminSession, type Api } from '../admin/helpers.ts';
import { TOKEN_EXCHANGE_GRANT } from '../../src/domain/token-exchange.ts';

const API = 'https://api.example.test/';

describe('tessera client create/update with a token exchange policy', () => {
  let storage: Storage;
  let cli: CliSession;
  beforeAll(async () => {
    storage = await createStorage();
    cli = await openCliSession(storage);
    expect((await cli.run(['migrate'])).code).toBe(0);
  });
  afterAll(async () => {
    await cli?.close();
    await storage?.drop();
  });

  it('creates a client allowed to exchange into an API, then allows and forbids impersonation, then removes the policy', async () => {
    const created = await cli.run(['client', 'create', '--name', 'Agent', '--grant-type', 'client_credentials', '--grant-type', TOKEN_EXCHANGE_GRANT, '--token-exchange-audience', API, '--json']);
    expect(created.code, created.stderr).toBe(0);
    const client = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(client).toMatchObject({ grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT], tessera_token_exchange_audiences: [API] });
    expect(client.tessera_token_exchange_impersonation).toBeUndefined();

    const allowed = await cli.run(['client', 'update', '--client-id', String(client.client_id), '--allow-impersonation', '--json']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ token_exchange_audiences: [API], token_exchange_impersonation: true });

    const human = await cli.run(['client', 'update', '--client-id', String(client.client_id), '--forbid-impersonation']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`token exchange into ${API}`);
    expect(human.stdout).not.toContain('impersonation allowed');

    const removed = await cli.run(['client', 'update', '--client-id', String(client.client_id), '--no-token-exchange', '--json']);
    expect(JSON.parse(removed.stdout)).toMatchObject({ token_exchange_audiences: [], token_exchange_impersonation: false });
  });

  it('refuses a malformed audience and the grant type for a public client, in one line', async () => {
    const bad = await cli.run(['client', 'create', '--name', 'Bad', '--grant-type', TOKEN_EXCHANGE_GRANT, '--token-exchange-audience', 'not a uri']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/absolute URI/);
    const pub = await cli.run(['client', 'create', '--name', 'Public', '--auth-method', 'none', '--redirect-uri', 'http://127.0.0.1:9/cb', '--grant-type', 'authorization_code', '--grant-type', TOKEN_EXCHANGE_GRANT]);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/authenticates/);
    const nothing = await cli.run(['client', 'update', '--client-id', 'x']);
    expect(nothing.code).not.toBe(0);
  });
});

describe('the admin API', () => {
  let server: TestServer;
  let api: Api;
  beforeAll(async () => {
    server = await startTestServer();
    api = (await adminSession(server)).api;
  });
  afterAll(() => server?.stop());

  it('sets, shows and removes a client\'s token exchange policy', async () => {
    const made = await api.post('/clients', { client_name: 'Agent', grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT], token_exchange_audiences: [API] });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ token_exchange_audiences: [API], token_exchange_impersonation: false });
    const changed = await api.patch(`/clients/${made.body.client_id}`, { token_exchange_impersonation: true });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ token_exchange_audiences: [API], token_exchange_impersonation: true });
    const removed = await api.patch(`/clients/${made.body.client_id}`, { token_exchange_audiences: null, token_exchange_impersonation: null });
    expect(removed.body).toMatchObject({ token_exchange_audiences: [], token_exchange_impersonation: false });
    const bad = await api.patch(`/clients/${made.body.client_id}`, { token_exchange_audiences: ['relative'] });
    expect(bad.status).toBe(422);
  });
});
