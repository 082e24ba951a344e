// Clients that must use DPoP (RFC 9449 §5.2 `dpop_bound_access_tokens`): set by operators through the CLI
// (`client create --require-dpop`, `client update --require-dpop | --no-require-dpop`) and the admin API, and by
// registrants themselves (it only restricts them). Such a client gets no token without a proof, and every
// token it gets is bound to the proof's key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, discover, postForm, REDIRECT_URI } from '../helpers/oauth.ts';
import { createStorage, runCliInProcess, type Storage } from '../helpers/cli.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminSession, type Api } from '../admin/helpers.ts';

const API = 'https://jobs.example.test/api';

let server: TestServer;
let api: Api;
let storage: Storage;

beforeAll(async () => {
  server = await startTestServer();
  storage = await createStorage();
  api = (await adminSession(server)).api;
  await runOperation(server.operations, 'resource.create', { identifier: API, scopes: [{ name: 'jobs:run' }] });
});
afterAll(async () => {
  await server?.stop();
  await storage?.drop();
});

const form = { grant_type: 'client_credentials', scope: 'jobs:run', resource: API };
const plainTokenRequest = (client: { client_id: string; client_secret?: string }) => postForm(`${server.issuer}/token`, form, basic(client as ClientMetadata));

async function boundToken(client: ClientMetadata) {
  const config = await discover(server, client);
  const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair());
  return oidc.clientCredentialsGrant(config, { scope: 'jobs:run', resource: API }, { DPoP });
}

describe('a client that must use DPoP', () => {
  it('admin API: dpop_bound_access_tokens on create refuses plain token requests; PATCH turns it off and on', async () => {
    const created = await api.post('/clients', { client_name: 'Strict worker', grant_types: ['client_credentials'], scope: 'jobs:run', dpop_bound_access_tokens: true });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ dpop_bound_access_tokens: true });
    const client = created.body as ClientMetadata;
    const refused = await plainTokenRequest(client);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: expect.stringMatching(/invalid_grant|invalid_request|invalid_dpop_proof/) });
    const tokens = await boundToken(client);
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(decodeJwt(tokens.access_token)).toHaveProperty('cnf.jkt');

    const off = await api.patch(`/clients/${client.client_id}`, { dpop_bound_access_tokens: false });
    expect(off.status).toBe(200);
    expect(off.body.dpop_bound_access_tokens).toBeUndefined();
    expect((await plainTokenRequest(client)).status).toBe(200);
    const on = await api.patch(`/clients/${client.client_id}`, { dpop_bound_access_tokens: true });
    expect(on.body).toMatchObject({ dpop_bound_access_tokens: true });
    expect((await plainTokenRequest(client)).status).toBe(400);
    // A change of something else keeps it.
    const renamed = await api.patch(`/clients/${client.client_id}`, { client_name: 'Strict worker 2' });
    expect(renamed.body).toMatchObject({ client_name: 'Strict worker 2', dpop_bound_access_tokens: true });
    expect((await api.post('/clients', { client_name: 'Bad', dpop_bound_access_tokens: 'yes' })).status).toBe(422);
  });

  it('CLI: client create --require-dpop, client update --no-require-dpop / --require-dpop', async () => {
    const created = await runCliInProcess(storage, ['client', 'create', '--name', 'CLI worker', '--grant-type', 'client_credentials', '--scope', 'jobs:run', '--require-dpop', '--json'], { runtime: server.runtime });
    expect(created.code, created.stderr).toBe(0);
    const client = JSON.parse(created.stdout) as ClientMetadata;
    expect(client.dpop_bound_access_tokens).toBe(true);
    expect((await plainTokenRequest(client)).status).toBe(400);
    expect((await boundToken(client)).token_type.toLowerCase()).toBe('dpop');

    const off = await runCliInProcess(storage, ['client', 'update', '--client-id', client.client_id, '--no-require-dpop', '--json'], { runtime: server.runtime });
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).not.toHaveProperty('dpop_bound_access_tokens');
    const on = await runCliInProcess(storage, ['client', 'update', '--client-id', client.client_id, '--require-dpop', '--json'], { runtime: server.runtime });
    expect(JSON.parse(on.stdout)).toMatchObject({ client_id: client.client_id, dpop_bound_access_tokens: true });

    const both = await runCliInProcess(storage, ['client', 'update', '--client-id', client.client_id, '--require-dpop', '--no-require-dpop'], { runtime: server.runtime });
    expect(both.code).toBe(2);
    const none = await runCliInProcess(storage, ['client', 'update', '--client-id', client.client_id], { runtime: server.runtime });
    expect(none.code).toBe(2);
    const unknown = await runCliInProcess(storage, ['client', 'update', '--client-id', 'no-such-client', '--require-dpop'], { runtime: server.runtime });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no-such-client');
  });

  it("Tessera's own APIs (admin API, revocation feed) take a bound token only with its key's proof", async () => {
    // An admin client that must use DPoP.
    const admin = await runOperation(server.operations, 'client.create', { name: 'DPoP admin', grantTypes: ['client_credentials'], scope: 'admin:clients:read', defaultResource: `${server.issuer}/admin`, requireDpop: true });
    const adminConfig = await discover(server, admin);
    const adminKey = oidc.getDPoPHandle(adminConfig, await oidc.randomDPoPKeyPair());
    const { access_token: adminToken } = await oidc.clientCredentialsGrant(adminConfig, { scope: 'admin:clients:read' }, { DPoP: adminKey });
    expect(decodeJwt(adminToken)).toHaveProperty('cnf.jkt');
    const clientsUrl = new URL(`${server.issuer}/admin/v1/clients`);
    const ok = await oidc.fetchProtectedResource(adminConfig, adminToken, clientsUrl, 'GET', undefined, undefined, { DPoP: adminKey });
    expect(ok.status).toBe(200);
    const asBearer = await fetch(clientsUrl, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
    const otherKey = oidc.getDPoPHandle(adminConfig, await oidc.randomDPoPKeyPair());
    await expect(oidc.fetchProtectedResource(adminConfig, adminToken, clientsUrl, 'GET', undefined, undefined, { DPoP: otherKey })).rejects.toMatchObject({ response: { status: 401 } });
    const noProof = await fetch(clientsUrl, { headers: { authorization: `DPoP ${adminToken}` } });
    expect(noProof.status).toBe(401);
    expect(await noProof.json()).toMatchObject({ error: 'invalid_dpop_proof' });

    // A feed token bound to the API's key (its introspection client asked with a proof).
    const feedApi = await runOperation(server.operations, 'resource.create', { identifier: 'https://feed.example.test/api', scopes: [{ name: 'x:read' }] });
    const feedClient = feedApi.introspection_client as ClientMetadata;
    const feedConfig = await discover(server, feedClient);
    const feedKey = oidc.getDPoPHandle(feedConfig, await oidc.randomDPoPKeyPair());
    const { access_token: feedToken } = await oidc.clientCredentialsGrant(feedConfig, { scope: 'revocations:read', resource: `${server.issuer}/revocations` }, { DPoP: feedKey });
    const feedUrl = new URL(`${server.issuer}/revocations/feed?wait=0`);
    expect((await oidc.fetchProtectedResource(feedConfig, feedToken, feedUrl, 'GET', undefined, undefined, { DPoP: feedKey })).status).toBe(200);
    const feedAsBearer = await fetch(feedUrl, { headers: { authorization: `Bearer ${feedToken}` } });
    expect(feedAsBearer.status).toBe(401);
    expect(feedAsBearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });

  it('dynamic registration: a registrant may ask for it (it only restricts the registrant)', async () => {
    const { initial_access_token: iat } = await runOperation(server.operations, 'iat.create', {});
    const res = await fetch(`${server.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
      body: JSON.stringify({ client_name: 'Registered app', redirect_uris: [REDIRECT_URI], dpop_bound_access_tokens: true }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.dpop_bound_access_tokens).toBe(true);
    const bad = await fetch(`${server.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${(await runOperation(server.operations, 'iat.create', {})).initial_access_token}` },
      body: JSON.stringify({ client_name: 'Registered app', redirect_uris: [REDIRECT_URI], dpop_bound_access_tokens: 'yes' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_client_metadata' });
  });
});
