// Privilege boundaries, tried from outside as an attacker would: a self-registered client never reaches
// the admin API, skips consent, introspects another API's tokens or gets tokens without authenticating; an
// admin scope never grants more than itself; a client never gets a token for an API it is not allowed.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange, REDIRECT_URI } from '../helpers/oauth.ts';
import { adminApi, adminClient, adminToken } from '../admin/helpers.ts';
import { runOperation } from '../../src/services/operations.ts';
import { adminAudience } from '../../src/domain/admin-scopes.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

const API = 'https://api.example.test';
const OTHER_API = 'https://other.example.test';
const app = { client_name: 'Third-party app', redirect_uris: [REDIRECT_URI] };
const machine = { client_name: 'Machine', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };

type Json = Record<string, any>;

async function post(url: string, body: unknown, token?: string, method = 'POST'): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  expect(res.status, text.slice(0, 300)).toBeLessThan(500);
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}

const tokenFor = (server: TestServer, client: { client_id: string; client_secret?: string }, params: Record<string, string>) =>
  fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(client.client_secret ? { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` } : {}),
    },
    body: new URLSearchParams({ ...(client.client_secret ? {} : { client_id: client.client_id }), ...params }),
  }).then(async (res) => ({ status: res.status, body: (await res.json()) as Json }));

const SERVER_OWNED: Array<[string, unknown]> = [
  ['tessera_resource_scopes', 'admin:*'],
  ['tessera_first_party', true],
  ['tessera_introspects', API],
  ['tessera_default_resource', 'http://127.0.0.1/admin'],
  ['tessera_anything_new', 'x'],
];

describe('under REGISTRATION_POLICY=open', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { REGISTRATION_POLICY: 'open', REGISTRATION_OPEN_SCOPES: 'api:read' } });
    await runOperation(server.operations, 'resource.create', { identifier: API, scopes: [{ name: 'api:read' }, { name: 'api:write' }] });
  });
  afterAll(() => server?.stop());

  for (const [field, value] of SERVER_OWNED) {
    it(`refuses a registration that sets ${field}, naming the field, and stores nothing`, async () => {
      const before = await server.runtime.db('clients').count<{ count: string }[]>('* as count');
      const res = await post(`${server.issuer}/reg`, { ...machine, [field]: value });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_client_metadata');
      expect(res.body.error_description).toContain(field);
      const after = await server.runtime.db('clients').count<{ count: string }[]>('* as count');
      expect(Number(after[0]!.count)).toBe(Number(before[0]!.count));
    });
  }

  it('never lets a self-registered client reach the admin API, whatever it sends', async () => {
    const attempts: Json[] = [
      { tessera_resource_scopes: 'admin:*' },
      { tessera_resource_scopes: 'admin:*', tessera_default_resource: adminAudience(server.issuer) },
      { scope: 'admin:*' },
      { scope: 'openid admin:users:write' },
      { scope: 'admin:future:thing' },
      { scope: 'revocations:read', tessera_introspects: API },
      {},
    ];
    for (const attempt of attempts) {
      const reg = await post(`${server.issuer}/reg`, { ...machine, ...attempt });
      if (reg.status !== 201) {
        expect(reg.body.error, JSON.stringify(attempt)).toBe('invalid_client_metadata');
        continue;
      }
      // Registered (only the plain one may be): every way to ask for an admin token fails, and no token
      // it can get opens the admin API.
      expect(attempt).toEqual({});
      const attemptsForAdmin: Record<string, string>[] = [
        { grant_type: 'client_credentials', resource: adminAudience(server.issuer) },
        { grant_type: 'client_credentials', resource: adminAudience(server.issuer), scope: 'admin:*' },
        { grant_type: 'client_credentials', scope: 'admin:*' },
      ];
      for (const params of attemptsForAdmin) {
        const res = await tokenFor(server, reg.body as { client_id: string; client_secret: string }, params);
        if (res.status !== 200) {
          expect(['invalid_target', 'invalid_scope']).toContain(res.body.error);
          continue;
        }
        const admin = await fetch(`${server.issuer}/admin/v1/users`, { headers: { authorization: `Bearer ${res.body.access_token}` } });
        expect(admin.status).toBe(401);
      }
    }
  });

  it('holds open registration to the OpenID Connect scopes and REGISTRATION_OPEN_SCOPES', async () => {
    const tooMuch = await post(`${server.issuer}/reg`, { ...machine, scope: 'api:read api:write' });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.error_description).toContain('api:write');
    const ok = await post(`${server.issuer}/reg`, { ...machine, scope: 'api:read' });
    expect(ok.status).toBe(201);
    // RFC 7591 metadata only: the API scope is back in `scope`, nothing of ours is shown.
    expect(ok.body.scope).toBe('api:read');
    expect(Object.keys(ok.body).filter((k) => k.startsWith('tessera_'))).toEqual([]);
    const token = await tokenFor(server, ok.body as { client_id: string; client_secret: string }, { grant_type: 'client_credentials', resource: API, scope: 'api:read' });
    expect(token.status).toBe(200);
    expect(token.body.scope).toBe('api:read');
  });

  it('refuses a public client with client_credentials, at registration and on update', async () => {
    const res = await post(`${server.issuer}/reg`, { ...machine, token_endpoint_auth_method: 'none' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_client_metadata');
    expect(res.body.error_description).toContain('client_credentials');
    const { body: pub } = await post(`${server.issuer}/reg`, { ...app, token_endpoint_auth_method: 'none' });
    const update = await post(pub.registration_client_uri, { ...app, client_id: pub.client_id, token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'client_credentials'] }, pub.registration_access_token, 'PUT');
    expect(update.status).toBe(400);
    expect(update.body.error).toBe('invalid_client_metadata');
  });

  it('refuses the server-owned fields on an RFC 7592 update too, and keeps what the operator set', async () => {
    const { body: reg } = await post(`${server.issuer}/reg`, { ...app, scope: 'openid api:read' });
    // The operator makes it first-party; the registrant can neither set nor drop that.
    await runOperation(server.operations, 'client.update', { clientId: reg.client_id, firstParty: true });
    let rat = reg.registration_access_token as string;
    for (const [field, value] of SERVER_OWNED) {
      const res = await post(reg.registration_client_uri, { ...app, client_id: reg.client_id, client_secret: reg.client_secret, [field]: value }, rat, 'PUT');
      expect(res.status, field).toBe(400);
      expect(res.body.error_description).toContain(field);
    }
    // The read-modify-write round trip of RFC 7592 works: what GET shows, PUT accepts.
    const read = await fetch(reg.registration_client_uri, { headers: { authorization: `Bearer ${rat}` } });
    const shown = (await read.json()) as Json;
    expect(shown.scope).toBe('openid api:read');
    const { registration_access_token: _t, registration_client_uri: _u, client_secret_expires_at: _e, client_id_issued_at: _i, ...echo } = shown;
    const update = await post(reg.registration_client_uri, { ...echo, client_name: 'Renamed' }, rat, 'PUT');
    expect(update.status, JSON.stringify(update.body)).toBe(200);
    rat = update.body.registration_access_token;
    const stored = await runOperation(server.operations, 'client.get', { clientId: reg.client_id });
    expect(stored.first_party).toBe(true);
    expect(stored.client_name).toBe('Renamed');
    expect(stored.scope).toBe('openid api:read');
  });

  it('audits a self-registered client as created, updated and deleted', async () => {
    const { body: reg } = await post(`${server.issuer}/reg`, app);
    const events = async () => (await server.runtime.db('audit_events').where('client_id', reg.client_id).orderBy('id')).map((e) => e.type);
    expect(await events()).toEqual(['client.created']);
    const del = await fetch(reg.registration_client_uri, { method: 'DELETE', headers: { authorization: `Bearer ${reg.registration_access_token}` } });
    expect(del.status).toBe(204);
    expect(await events()).toEqual(['client.created', 'client.deleted']);
  });
});

describe('under REGISTRATION_POLICY=initial-access-token', () => {
  let server: TestServer;
  const iat = async (input: Parameters<typeof runOperation<'iat.create'>>[2] = {}) =>
    (await runOperation(server.operations, 'iat.create', input)).initial_access_token;
  beforeAll(async () => {
    server = await startTestServer();
    await runOperation(server.operations, 'resource.create', { identifier: API, scopes: [{ name: 'api:read' }, { name: 'api:write' }] });
  });
  afterAll(() => server?.stop());

  it('binds API scopes too, not only OpenID Connect ones, at registration and on update', async () => {
    const token = await iat({ scopes: ['openid', 'api:read'] });
    for (const attempt of [{ scope: 'openid api:write' }, { scope: 'api:read api:write' }, { tessera_resource_scopes: 'api:write' }]) {
      const res = await post(`${server.issuer}/reg`, { ...app, ...attempt }, token);
      expect(res.status, JSON.stringify(attempt)).toBe(400);
      expect(res.body.error).toBe('invalid_client_metadata');
    }
    const ok = await post(`${server.issuer}/reg`, { ...app, scope: 'openid api:read' }, token);
    expect(ok.status).toBe(201);
    const update = await post(ok.body.registration_client_uri, { ...app, client_id: ok.body.client_id, client_secret: ok.body.client_secret, scope: 'openid api:read api:write' }, ok.body.registration_access_token, 'PUT');
    expect(update.status).toBe(400);
    expect(update.body.error_description).toContain('api:write');
  });

  it("gives a registration that names no scope the token's allowed scopes, not every scope", async () => {
    const ok = await post(`${server.issuer}/reg`, machine, await iat({ scopes: ['api:read'] }));
    expect(ok.status).toBe(201);
    expect(ok.body.scope).toBe('api:read');
    const token = await tokenFor(server, ok.body as { client_id: string; client_secret: string }, { grant_type: 'client_credentials', resource: API, scope: 'api:read api:write' });
    expect(token.body.scope).toBe('api:read');
  });

  it('does not use up a single-use token on a refused registration', async () => {
    const single = await iat({ maxUses: 1 });
    for (const typo of [{ redirect_uris: ['http://evil.example.com/cb'] }, { scope: 'admin:*' }, { tessera_first_party: true }, { token_endpoint_auth_method: 'none', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }]) {
      expect((await post(`${server.issuer}/reg`, { ...app, ...typo }, single)).status, JSON.stringify(typo)).toBe(400);
    }
    expect((await post(`${server.issuer}/reg`, app, single)).status).toBe(201);
    expect((await post(`${server.issuer}/reg`, app, single)).status).toBe(401);
  });

  it('never issues a token that allows privileged scopes', async () => {
    for (const scopes of [['admin:*'], ['openid', 'admin:users:read'], ['revocations:read']]) {
      await expect(runOperation(server.operations, 'iat.create', { scopes })).rejects.toThrow(/cannot be obtained by registration/);
    }
  });
});

describe('admin scopes are a boundary, not a label', () => {
  let server: TestServer;
  let root: { client_id: string; client_secret: string };
  beforeAll(async () => {
    server = await startTestServer();
    root = await adminClient(server);
  });
  afterAll(() => server?.stop());

  const apiWith = async (scope: string) => adminApi(server, await adminToken(server, await adminClient(server, scope), scope));

  it('does not let a clients:write caller create or widen a client with admin scopes it lacks', async () => {
    const api = await apiWith('admin:clients:write');
    for (const scope of ['admin:*', 'admin:users:read', 'openid admin:keys:write', 'admin:registration:write']) {
      const res = await api.post('/clients', { client_name: 'escalate', grant_types: ['client_credentials'], scope });
      expect(res.status, scope).toBe(403);
      expect(res.body.error).toBe('insufficient_scope');
    }
    // What it holds itself (write implies read) it may hand on.
    expect((await api.post('/clients', { client_name: 'helper', grant_types: ['client_credentials'], scope: 'admin:clients:read' })).status).toBe(201);
    const plain = await api.post('/clients', { client_name: 'plain', grant_types: ['client_credentials'], scope: 'openid' });
    expect(plain.status).toBe(201);
    const widen = await api.patch(`/clients/${plain.body.client_id}`, { scope: 'admin:*' });
    expect(widen.status).toBe(403);
  });

  it("does not let it take over a more privileged client (its secret, its keys, its state)", async () => {
    const api = await apiWith('admin:clients:write');
    expect((await api.post(`/clients/${root.client_id}/secret`, {})).status).toBe(403);
    expect((await api.patch(`/clients/${root.client_id}`, { client_name: 'mine now' })).status).toBe(403);
    expect((await api.post(`/clients/${root.client_id}/disable`)).status).toBe(403);
    expect((await api.delete(`/clients/${root.client_id}`)).status).toBe(403);
    // The admin:* client itself is untouched and still works.
    expect(await adminToken(server, root)).toBeTruthy();
  });

  it('does not let a registration:write caller mint initial access tokens for admin scopes', async () => {
    const api = await apiWith('admin:registration:write');
    const res = await api.post('/initial-access-tokens', { scopes: ['admin:*'] });
    expect(res.status).toBe(422);
    expect((await api.post('/initial-access-tokens', { scopes: ['openid'] })).status).toBe(201);
  });

  it('gives accounts roles through an upstream only with admin:users:write', async () => {
    const upstream = { id: 'corp', kind: 'oidc', issuer: 'https://idp.example.test', client_id: 'x', client_secret: 'y', default_roles: ['admin'] };
    const narrow = await apiWith('admin:upstreams:write');
    const refused = await narrow.post('/upstreams', upstream);
    expect(refused.status).toBe(403);
    expect(refused.body.error_description).toContain('admin:users:write');
    const { default_roles: _roles, ...withoutRoles } = upstream;
    expect((await narrow.post('/upstreams', withoutRoles)).status).toBe(201);
    expect((await narrow.patch('/upstreams/corp', { default_roles: ['admin'] })).status).toBe(403);
    const both = await apiWith('admin:upstreams:write admin:users:write');
    expect((await both.patch('/upstreams/corp', { default_roles: ['admin'] })).status).toBe(200);
  });

  it('refuses an API whose scopes would collide with the admin API or the revocation feed', async () => {
    const api = await apiWith('admin:resources:write');
    for (const name of ['admin:*', 'admin:users:write', 'revocations:read']) {
      const res = await api.post('/resource-servers', { identifier: `https://collide-${name.length}.example.test`, scopes: [{ name }] });
      expect(res.status, name).toBe(422);
    }
  });
});

describe('client_credentials only for clients that authenticate', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('refuses the combination through the CLI and the admin API', async () => {
    await expect(createClient(server, { grantTypes: ['client_credentials'], authMethod: 'none', redirectUris: [] })).rejects.toThrow(/client_credentials/);
    const api = adminApi(server, await adminToken(server, await adminClient(server)));
    const created = await api.post('/clients', { client_name: 'pub', grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' });
    expect(created.status).toBe(422);
    const pub = await api.post('/clients', { client_name: 'pub', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
    expect(pub.status).toBe(201);
    expect((await api.patch(`/clients/${pub.body.client_id}`, { grant_types: ['authorization_code', 'client_credentials'] })).status).toBe(422);
  });

  it('refuses it at the token endpoint for a public client stored before the rule', async () => {
    const pub = await createClient(server, { authMethod: 'none' });
    // As if written by an older version: a public client holding client_credentials.
    const row = await server.runtime.db('clients').where('id', pub.client_id).first();
    const metadata = { ...row.metadata, grant_types: ['authorization_code', 'client_credentials'] };
    await server.runtime.db('clients').where('id', pub.client_id).update({ metadata: JSON.stringify(metadata) });
    const res = await tokenFor(server, { client_id: pub.client_id }, { grant_type: 'client_credentials' });
    expect(res.status).toBe(400);
    expect(res.body.access_token).toBeUndefined();
    expect(['unauthorized_client', 'invalid_request', 'invalid_client']).toContain(res.body.error);
  });
});

describe('a token for an API only for clients allowed to use it (RFC 8707)', () => {
  let server: TestServer;
  let stranger: ClientMetadata;
  let member: ClientMetadata;
  let listed: ClientMetadata;
  beforeAll(async () => {
    server = await startTestServer();
    await createUser(server, 'alice');
    await runOperation(server.operations, 'resource.create', { identifier: API, scopes: [{ name: 'api:read' }] });
    await runOperation(server.operations, 'resource.create', { identifier: OTHER_API, scopes: [{ name: 'other:read' }] });
    stranger = await createClient(server, { grantTypes: ['client_credentials'], redirectUris: [], scope: 'other:read' });
    member = await createClient(server, { grantTypes: ['client_credentials'], redirectUris: [], scope: 'api:read' });
    listed = await createClient(server, { grantTypes: ['client_credentials'], redirectUris: [], defaultResource: API });
  });
  afterAll(() => server?.stop());

  it('client_credentials: invalid_target for an API the client holds no scope of', async () => {
    const refused = await tokenFor(server, stranger as { client_id: string; client_secret: string }, { grant_type: 'client_credentials', resource: API });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_target');
    expect((await tokenFor(server, member as { client_id: string; client_secret: string }, { grant_type: 'client_credentials', resource: API })).status).toBe(200);
    // Explicitly listed for it (its default resource): allowed without a scope.
    expect((await tokenFor(server, listed as { client_id: string; client_secret: string }, { grant_type: 'client_credentials', resource: API })).status).toBe(200);
  });

  it('authorization_code and refresh: invalid_target for an API the client is not allowed', async () => {
    const client = await createClient(server, { grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid offline_access other:read' });
    const config = await discover(server, client);
    const session = new BrowserSession(server.issuer);
    // At the authorization endpoint: the error comes back to the registered redirect URI.
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      resource: API,
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 's',
    });
    const step = await session.follow(url);
    expect(step.url.searchParams.get('error')).toBe('invalid_target');

    // A grant for the API while the client was allowed it; the operator then takes the API's scope away,
    // and the refresh for it is refused (once the 1-second client cache has caught up).
    const allowed = await createClient(server, { grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid offline_access api:read' });
    const allowedConfig = await discover(server, allowed);
    const tokens = await exchange(allowedConfig, await authorize(server, allowedConfig, session, { scope: 'openid offline_access api:read', extra: { resource: API } }));
    let refresh = tokens.refresh_token!;
    expect(refresh).toBeTruthy();
    await runOperation(server.operations, 'client.update', { clientId: allowed.client_id, scope: 'openid offline_access other:read' });
    await vi.waitFor(
      async () => {
        const res = await tokenFor(server, allowed as { client_id: string; client_secret: string }, { grant_type: 'refresh_token', refresh_token: refresh, resource: API });
        if (res.status === 200) refresh = res.body.refresh_token;
        expect(res.body.error).toBe('invalid_target');
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});
