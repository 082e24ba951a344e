// Who may call the admin API: real access tokens from the token endpoint, refused or accepted by audience,
// scope, revocation and client state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { discover } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminAudience } from '../../src/domain/admin-scopes.ts';
import { adminApi, adminClient, adminSession, adminToken, type Api } from './helpers.ts';

let server: TestServer;
let admin: Api;

beforeAll(async () => {
  server = await startTestServer();
  admin = (await adminSession(server)).api;
});
afterAll(() => server?.stop());

describe('authentication', () => {
  it('refuses a call without a token with 401 and a Bearer challenge', async () => {
    const res = await adminApi(server, undefined).get('/clients');
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'invalid_token', details: [] });
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="tessera-admin"/);
    // RFC 6750 §3.1: no error code when no credentials were sent.
    expect(res.headers.get('www-authenticate')).not.toContain('error=');
  });

  it('refuses a garbage token, and a non-Bearer Authorization header, with 401 invalid_token', async () => {
    for (const headers of [{ authorization: 'Bearer not-a-token' }, { authorization: 'Basic YWRtaW46YWRtaW4=' }, { authorization: 'Bearer a.b.c' }]) {
      const res = await adminApi(server, undefined).request('GET', '/clients', { headers });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_token');
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
  });

  it('refuses a valid token issued for another audience', async () => {
    const client = await adminClient(server);
    const config = await discover(server, { ...client, token_endpoint_auth_method: 'client_secret_basic' } as ClientMetadata);
    const other = await oidc.clientCredentialsGrant(config, { scope: 'admin:*', resource: `${server.issuer}/api` });
    expect(decodeJwt(other.access_token).aud).toBe(`${server.issuer}/api`);
    const res = await adminApi(server, other.access_token).get('/clients');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token');
  });

  it('issues admin-audience tokens only to clients registered with admin scopes', async () => {
    const plain = await adminClient(server, 'reports:read');
    const config = await discover(server, { ...plain, token_endpoint_auth_method: 'client_secret_basic' } as ClientMetadata);
    await expect(oidc.clientCredentialsGrant(config, { scope: 'admin:*', resource: adminAudience(server.issuer) })).rejects.toMatchObject({ error: 'invalid_target' });
  });
});

describe('scopes', () => {
  it('answers 403 insufficient_scope for a token whose scope covers another area', async () => {
    const usersReader = await adminClient(server, 'admin:users:read');
    const api = adminApi(server, await adminToken(server, usersReader, 'admin:users:read'));
    expect((await api.get('/users')).status).toBe(200);
    const res = await api.get('/clients');
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'insufficient_scope', details: [] });
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(res.headers.get('www-authenticate')).toContain('scope="admin:clients:read"');
    const refusedWrite = await api.post('/clients', { client_name: 'x' });
    expect(refusedWrite.status).toBe(403);
    const [recorded] = (await admin.get('/audit-events?type=admin.request&limit=1')).body.items;
    expect(recorded).toMatchObject({ client_id: usersReader.client_id, details: { method: 'POST', status: 403 } });
  });

  it('lets a read scope read but not write', async () => {
    const reader = await adminClient(server, 'admin:clients:read');
    const api = adminApi(server, await adminToken(server, reader, 'admin:clients:read'));
    expect((await api.get('/clients')).status).toBe(200);
    const res = await api.post('/clients', { client_name: 'Not allowed', grant_types: ['client_credentials'] });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    expect((await api.post(`/clients/${reader.client_id}/disable`)).status).toBe(403);
  });

  it('lets a write scope read its own area too', async () => {
    const writer = await adminClient(server, 'admin:resources:write');
    const api = adminApi(server, await adminToken(server, writer, 'admin:resources:write'));
    expect((await api.get('/resource-servers')).status).toBe(200);
    expect((await api.post('/resource-servers', { identifier: 'https://writer.example.test/' })).status).toBe(201);
    expect((await api.get('/users')).status).toBe(403);
  });

  it('gives an admin:* client a narrow token when it asks for one', async () => {
    const broad = await adminClient(server);
    const token = await adminToken(server, broad, 'admin:audit:read');
    expect(decodeJwt(token).scope).toBe('admin:audit:read');
    const api = adminApi(server, token);
    expect((await api.get('/audit-events')).status).toBe(200);
    expect((await api.post('/users', { username: 'narrow', password: 'correct horse battery' })).status).toBe(403);
  });

  it('serves the OpenAPI document without a token', async () => {
    const res = await adminApi(server, undefined).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
  });
});

describe('revocation', () => {
  it('stops an admin client\'s token the moment the client is disabled; once enabled, it gets new tokens', async () => {
    const victim = await adminClient(server);
    const token = await adminToken(server, victim);
    const api = adminApi(server, token);
    expect((await api.get('/clients')).status).toBe(200);

    expect((await admin.post(`/clients/${victim.client_id}/disable`)).status).toBe(200);
    const refused = await api.get('/clients');
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_token');

    expect((await admin.post(`/clients/${victim.client_id}/enable`)).status).toBe(200);
    expect((await adminApi(server, await adminToken(server, victim)).get('/clients')).status).toBe(200);
  });

  it('refuses a token revoked at the revocation endpoint (RFC 7009)', async () => {
    const client = await adminClient(server);
    const token = await adminToken(server, client);
    expect((await adminApi(server, token).get('/users')).status).toBe(200);
    const config = await discover(server, { ...client, token_endpoint_auth_method: 'client_secret_basic' } as ClientMetadata);
    await oidc.tokenRevocation(config, token);
    expect((await adminApi(server, token).get('/users')).status).toBe(401);
  });

  it('refuses the token of a deleted admin client', async () => {
    const client = await adminClient(server);
    const token = await adminToken(server, client);
    expect((await admin.delete(`/clients/${client.client_id}`)).status).toBe(200);
    expect((await adminApi(server, token).get('/users')).status).toBe(401);
  });
});

describe('audit', () => {
  it('records refused write calls too, without a client', async () => {
    const before = (await admin.get('/audit-events?type=admin.request&limit=200')).body.items.length;
    expect((await adminApi(server, undefined).post('/users', { username: 'x', password: 'correct horse battery' })).status).toBe(401);
    const events = (await admin.get('/audit-events?type=admin.request&limit=200')).body.items;
    expect(events.length).toBeGreaterThan(before);
    expect(events[0]).toMatchObject({ client_id: null, details: { method: 'POST', route: '/admin/v1/users', status: 401 } });
  });
});
