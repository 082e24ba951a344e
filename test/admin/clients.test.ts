// Clients through the admin API: created, read, changed (through the same rules as every other path),
// disabled, enabled and deleted — and the clients made here work at the token endpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, postForm } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminSession, type Api } from './helpers.ts';

let server: TestServer;
let api: Api;

beforeAll(async () => {
  server = await startTestServer();
  api = (await adminSession(server)).api;
});
afterAll(() => server?.stop());

const tokenStatus = async (client: { client_id: string; client_secret?: string }, scope = 'jobs:run') =>
  (await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials', scope }, basic(client as ClientMetadata))).status;

describe('creating a client', () => {
  it('answers 201 with the secret once; reading it back never shows a secret', async () => {
    const res = await api.post('/clients', { client_name: 'Worker', grant_types: ['client_credentials'], scope: 'jobs:run' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ client_name: 'Worker', grant_types: ['client_credentials'], scope: 'jobs:run', disabled: false, first_party: false });
    expect(Buffer.from(res.body.client_secret, 'base64url')).toHaveLength(32);
    expect(await tokenStatus(res.body)).toBe(200);

    const read = await api.get(`/clients/${res.body.client_id}`);
    expect(read.status).toBe(200);
    expect(read.body).not.toHaveProperty('client_secret');
    expect(JSON.stringify(read.body)).not.toContain(res.body.client_secret);
    const listed = await api.get('/clients?limit=200');
    expect(JSON.stringify(listed.body)).not.toContain(res.body.client_secret);
    expect(listed.body.items.map((c: { client_id: string }) => c.client_id)).toContain(res.body.client_id);
  });

  it('creates an authorization-code client with RFC 7591 metadata, first_party and default_resource', async () => {
    const res = await api.post('/clients', {
      client_name: 'Portal',
      redirect_uris: ['https://portal.example.test/callback'],
      post_logout_redirect_uris: ['https://portal.example.test/'],
      scope: 'openid profile',
      token_endpoint_auth_method: 'client_secret_post',
      logo_uri: 'https://portal.example.test/logo.png',
      first_party: true,
      default_resource: 'https://api.example.test/',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      logo_uri: 'https://portal.example.test/logo.png',
      first_party: true,
      default_resource: 'https://api.example.test/',
    });
  });

  it('creates a public client without a secret', async () => {
    const res = await api.post('/clients', { client_name: 'SPA', redirect_uris: ['http://127.0.0.1:8080/cb'], token_endpoint_auth_method: 'none' });
    expect(res.status).toBe(201);
    expect(res.body).not.toHaveProperty('client_secret');
  });

  it('refuses metadata the shared rules refuse, with 422 and the reason', async () => {
    const res = await api.post('/clients', { client_name: 'Bad', redirect_uris: ['http://app.example.test/callback'] });
    expect(res.status).toBe(422);
    expect(res.body.error_description).toMatch(/https/);
    const fragment = await api.post('/clients', { client_name: 'Bad', redirect_uris: ['https://app.example.test/cb#x'] });
    expect(fragment.status).toBe(422);
    expect(fragment.body.error_description).toMatch(/fragment/);
  });
});

describe('changing a client', () => {
  it('changes only the fields sent, and null removes an optional one', async () => {
    const { body: made } = await api.post('/clients', { client_name: 'Editable', redirect_uris: ['https://e.example.test/cb'], logo_uri: 'https://e.example.test/logo.png' });
    const res = await api.patch(`/clients/${made.client_id}`, { client_name: 'Edited', redirect_uris: ['https://e.example.test/cb', 'https://e.example.test/cb2'], logo_uri: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ client_id: made.client_id, client_name: 'Edited', redirect_uris: ['https://e.example.test/cb', 'https://e.example.test/cb2'] });
    expect(res.body).not.toHaveProperty('logo_uri');
    expect(res.body.client_id_issued_at).toBe(made.client_id_issued_at);
    expect((await api.get(`/clients/${made.client_id}`)).body).toMatchObject({ client_name: 'Edited' });
  });

  it('runs a change through the same validator: a bad redirect URI, or grant types without one, is refused', async () => {
    const { body: made } = await api.post('/clients', { client_name: 'Strict', redirect_uris: ['https://s.example.test/cb'] });
    const bad = await api.patch(`/clients/${made.client_id}`, { redirect_uris: ['javascript:alert(1)'] });
    expect(bad.status).toBe(422);
    expect(bad.body.error_description).toMatch(/scheme/);
    const noRedirect = await api.patch(`/clients/${made.client_id}`, { redirect_uris: [] });
    expect(noRedirect.status).toBe(422);
    expect(noRedirect.body.error_description).toMatch(/redirect URI/);
    expect((await api.get(`/clients/${made.client_id}`)).body.redirect_uris).toEqual(['https://s.example.test/cb']);
  });

  it('keeps the secret through a change, and the client keeps working', async () => {
    const { body: made } = await api.post('/clients', { client_name: 'Kept', grant_types: ['client_credentials'], scope: 'jobs:run' });
    expect((await api.patch(`/clients/${made.client_id}`, { scope: 'jobs:run jobs:read', token_endpoint_auth_method: 'client_secret_post' })).status).toBe(200);
    const res = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials', scope: 'jobs:read', client_id: made.client_id, client_secret: made.client_secret });
    expect(res.status).toBe(200);
  });

  it('refuses to give a client without a secret a secret-based auth method', async () => {
    const { body: made } = await api.post('/clients', { client_name: 'Public', redirect_uris: ['http://127.0.0.1:8080/cb'], token_endpoint_auth_method: 'none' });
    const res = await api.patch(`/clients/${made.client_id}`, { token_endpoint_auth_method: 'client_secret_basic' });
    expect(res.status).toBe(422);
  });

  it('refuses to change the built-in account client (409)', async () => {
    const res = await api.patch('/clients/tessera-account', { client_name: 'Mine now' });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('conflict');
    expect((await api.delete('/clients/tessera-account')).status).toBe(409);
  });
});

describe('disabling, enabling and deleting a client', () => {
  it('stops a disabled client at the token endpoint, lets it back in when enabled, and forgets it when deleted', async () => {
    const { body: made } = await api.post('/clients', { client_name: 'Toggle', grant_types: ['client_credentials'], scope: 'jobs:run' });
    expect(await tokenStatus(made)).toBe(200);

    expect((await api.post(`/clients/${made.client_id}/disable`)).body).toEqual({ client_id: made.client_id, disabled: true });
    expect((await api.get(`/clients/${made.client_id}`)).body.disabled).toBe(true);
    // The engine's client cache (oidc/short-lived-cache.ts) drops a client this process changed at once.
    expect(await tokenStatus(made)).toBe(401);

    expect((await api.post(`/clients/${made.client_id}/enable`)).body).toEqual({ client_id: made.client_id, disabled: false });
    expect(await tokenStatus(made)).toBe(200);

    expect((await api.delete(`/clients/${made.client_id}`)).body).toEqual({ client_id: made.client_id, deleted: true });
    const gone = await api.get(`/clients/${made.client_id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ error: 'not_found', details: [] });
    expect(await tokenStatus(made)).toBe(401);
  });

  it('answers 404 for an unknown client on every route', async () => {
    for (const [method, path] of [
      ['GET', '/clients/nope'],
      ['PATCH', '/clients/nope'],
      ['DELETE', '/clients/nope'],
      ['POST', '/clients/nope/disable'],
      ['POST', '/clients/nope/enable'],
    ] as const) {
      const res = await api.request(method, path, method === 'PATCH' ? { body: { client_name: 'x' } } : {});
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error).toBe('not_found');
    }
  });
});
