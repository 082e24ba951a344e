// An operator scripts Tessera end to end: bootstrap the admin client, get a token, then — finding each call
// in the OpenAPI document by its operationId, as a generated client would — create a user, an API and an
// app; the app then signs the user in and gets a token the API's introspection accepts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, basic, discover, exchange, postForm, REDIRECT_URI } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

/** A client driven by the OpenAPI document: operations by id, paths and methods from the document. */
async function openApiClient(baseDocUrl: string, token: string) {
  const doc = await (await fetch(baseDocUrl)).json();
  const base: string = doc.servers[0].url;
  const byId = new Map<string, { method: string; path: string }>();
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { operationId: string }>>)) {
    for (const [method, operation] of Object.entries(item)) byId.set(operation.operationId, { method, path });
  }
  return async (operationId: string, input: { params?: Record<string, string>; query?: Record<string, string>; body?: unknown } = {}) => {
    const found = byId.get(operationId);
    if (!found) throw new Error(`no operation ${operationId} in the document`);
    const path = found.path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(input.params![name]!));
    const query = input.query ? `?${new URLSearchParams(input.query)}` : '';
    const res = await fetch(`${base}${path}${query}`, {
      method: found.method.toUpperCase(),
      headers: { authorization: `Bearer ${token}`, ...(input.body ? { 'content-type': 'application/json' } : {}) },
      body: input.body ? JSON.stringify(input.body) : undefined,
    });
    return { status: res.status, body: await res.json() };
  };
}

describe('an operator scripting Tessera through the admin API', () => {
  it('bootstraps, then creates a user, a resource server and a client that works', async () => {
    // 1. Bootstrap (what `tessera admin bootstrap --json` runs) — once; a second time is refused.
    const admin = await runOperation(server.operations, 'admin.bootstrap', {});
    await expect(runOperation(server.operations, 'admin.bootstrap', {})).rejects.toMatchObject({ status: 409 });

    // 2. A token by client_credentials; the bootstrap client's default resource is the admin API.
    const adminConfig = await discover(server, { ...admin, token_endpoint_auth_method: 'client_secret_basic' } as ClientMetadata);
    const { access_token: token } = await oidc.clientCredentialsGrant(adminConfig, { scope: admin.scope });
    expect(decodeJwt(token)).toMatchObject({ aud: admin.audience, scope: 'admin:*', client_id: admin.client_id });

    const call = await openApiClient(`${server.issuer}/admin/v1/openapi.json`, token);

    // 3. A user, an API with a scope, and an app allowed that scope.
    const user = await call('postUsers', { body: { username: 'olga', password: 'correct horse battery', email: 'olga@example.test' } });
    expect(user.status).toBe(201);
    const api = await call('postResourceServers', { body: { identifier: 'https://reports.example.test/', name: 'Reports', scopes: [{ name: 'reports:read', description: 'Read your reports' }] } });
    expect(api.status).toBe(201);
    const app = await call('postClients', { body: { client_name: 'Reports UI', redirect_uris: [REDIRECT_URI], scope: 'openid reports:read' } });
    expect(app.status).toBe(201);
    expect((await call('getClientsByClientId', { params: { client_id: app.body.client_id } })).body.client_name).toBe('Reports UI');

    // 4. The app signs the user in and gets a token for the API, which the API's own client introspects.
    const config = await discover(server, app.body as ClientMetadata);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), {
      username: 'olga',
      scope: 'openid reports:read',
      extra: { resource: 'https://reports.example.test/' },
    }));
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: 'https://reports.example.test/', scope: 'reports:read', sub: user.body.id });
    const introspect = async () =>
      (await postForm(`${server.issuer}/token/introspection`, { token: tokens.access_token }, basic(api.body.introspection_client as ClientMetadata))).json();
    expect(await introspect()).toMatchObject({ active: true, username: 'olga' });

    // 5. The operator sees the grant and revokes it; the API stops accepting the token at once.
    const grants = await call('getGrants', { query: { user: 'olga' } });
    expect(grants.body.items).toHaveLength(1);
    expect((await call('deleteGrantsByGrantId', { params: { grant_id: grants.body.items[0].grant_id } })).status).toBe(200);
    expect(await introspect()).toEqual({ active: false });

    // 6. Everything the script changed is in the audit trail under the admin client.
    const audit = await call('getAuditEvents', { query: { actor: admin.client_id, type: 'admin.request' } });
    expect(audit.body.items.map((e: { details: { route: string } }) => e.details.route)).toEqual([
      '/admin/v1/grants/{grant_id}',
      '/admin/v1/clients',
      '/admin/v1/resource-servers',
      '/admin/v1/users',
    ]);
  });
});
