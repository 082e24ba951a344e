// Resource servers through the admin API, addressed by their URL-encoded identifier; the API registered
// here issues tokens and its introspection client introspects them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
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

const INVOICES = 'https://invoices.example.test/api';
const at = (identifier: string) => `/resource-servers/${encodeURIComponent(identifier)}`;

describe('resource servers', () => {
  it('registers one (201) with its introspection client, whose secret is shown once', async () => {
    const res = await api.post('/resource-servers', {
      identifier: INVOICES,
      name: 'Invoices',
      scopes: [{ name: 'invoices:read', description: 'Read your invoices' }, { name: 'invoices:write' }],
      ttl: 300,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ identifier: INVOICES, name: 'Invoices', format: 'jwt', ttl: 300, alg: 'ES256' });
    expect(res.body.introspection_client.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify((await api.get(at(INVOICES))).body)).not.toContain(res.body.introspection_client.client_secret);

    // It works: a client gets a token for it, and its own client introspects that token.
    const { body: service } = await api.post('/clients', { client_name: 'Service', grant_types: ['client_credentials'], scope: 'invoices:read' });
    const token = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials', scope: 'invoices:read', resource: INVOICES }, basic(service as ClientMetadata));
    const accessToken = (await token.json()).access_token as string;
    expect(decodeJwt(accessToken)).toMatchObject({ aud: INVOICES, scope: 'invoices:read' });
    const introspected = await postForm(`${server.issuer}/token/introspection`, { token: accessToken }, basic(res.body.introspection_client as ClientMetadata));
    expect(await introspected.json()).toMatchObject({ active: true, aud: INVOICES });
  });

  it('refuses an identifier already registered with 409, and an invalid one with 422', async () => {
    const again = await api.post('/resource-servers', { identifier: INVOICES });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('conflict');
    const relative = await api.post('/resource-servers', { identifier: 'invoices' });
    expect(relative.status).toBe(422);
    expect(relative.body.error_description).toMatch(/absolute URI/);
    const reserved = await api.post('/resource-servers', { identifier: 'https://oidc.example.test/', scopes: [{ name: 'openid' }] });
    expect(reserved.status).toBe(422);
  });

  it('reads, lists and changes one by its encoded identifier', async () => {
    expect((await api.get(at(INVOICES))).body).toMatchObject({ identifier: INVOICES, name: 'Invoices' });
    expect((await api.get('/resource-servers')).body.items.map((r: { identifier: string }) => r.identifier)).toContain(INVOICES);
    const res = await api.patch(at(INVOICES), { ttl: 120, format: 'opaque', scopes: [{ name: 'invoices:read' }] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ identifier: INVOICES, ttl: 120, format: 'opaque', scopes: [{ name: 'invoices:read' }], name: 'Invoices' });
    expect((await api.patch(at(INVOICES), { ttl: 5 })).status).toBe(422);
    expect((await api.patch(at(INVOICES), { identifier: 'https://other.example.test/' })).status).toBe(422);
  });

  it('deletes one with its introspection client, and answers 404 afterwards', async () => {
    const { body: made } = await api.post('/resource-servers', { identifier: 'https://doomed.example.test/api?v=1' });
    const res = await api.delete(at(made.identifier));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ identifier: made.identifier, deleted: true });
    expect((await api.get(at(made.identifier))).status).toBe(404);
    expect((await api.get(`/clients/${made.introspection_client.client_id}`)).status).toBe(404);
    expect((await api.delete(at(made.identifier))).status).toBe(404);
    expect((await api.patch(at(made.identifier), { ttl: 60 })).status).toBe(404);
  });
});
