// Introspection of our access tokens (JWT and opaque) is answered by the host without the engine's pipeline
// (oidc/introspection-fast-path.ts) — and must say exactly what the engine says. Each case asks both: the fast
// path (a plain request) and the engine (the same request with a hint the fast path leaves to the engine),
// and the request log says which one answered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, basic, createClient, createUser, discover, exchange, postForm } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

const API = 'https://fast.example.test/api';
const OTHER_API = 'https://other.example.test/api';
const OPAQUE_API = 'https://opaque.example.test/api';

let server: TestServer;
let rs: ClientMetadata;
let otherRs: ClientMetadata;
let service: ClientMetadata;
let serviceToken: string;
let userToken: string;
let app: ClientMetadata;
let opaqueRs: ClientMetadata;
let opaqueServiceToken: string;
let opaqueUserToken: string;
let refreshToken: string;
// RFC 9449: tokens bound to a DPoP key (cnf.jkt), answered with token_type DPoP and cnf by both paths.
let dpopJkt: string;
let dpopServiceToken: string;
let dpopUserToken: string;
let dpopOpaqueToken: string;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'fiona');
  rs = (await runOperation(server.operations, 'resource.create', { identifier: API, scopes: [{ name: 'fast:read' }] })).introspection_client as ClientMetadata;
  otherRs = (await runOperation(server.operations, 'resource.create', { identifier: OTHER_API, scopes: [{ name: 'other:read' }] })).introspection_client as ClientMetadata;
  opaqueRs = (await runOperation(server.operations, 'resource.create', { identifier: OPAQUE_API, scopes: [{ name: 'opaque:read' }], format: 'opaque' })).introspection_client as ClientMetadata;
  service = await createClient(server, { name: 'Service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'fast:read opaque:read' });
  serviceToken = (await oidc.clientCredentialsGrant(await discover(server, service), { resource: API, scope: 'fast:read' })).access_token;
  opaqueServiceToken = (await oidc.clientCredentialsGrant(await discover(server, service), { resource: OPAQUE_API, scope: 'opaque:read' })).access_token;
  app = await createClient(server, { name: 'User App', scope: 'openid offline_access roles fast:read' });
  const config = await discover(server, app);
  const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { username: 'fiona', scope: 'openid fast:read roles offline_access', extra: { resource: API } }));
  userToken = tokens.access_token;
  expect(decodeJwt(userToken)).toMatchObject({ aud: API, gid: expect.any(String) });
  // Without a resource: an opaque token for userinfo.
  const plain = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { username: 'fiona', scope: 'openid roles offline_access' }));
  opaqueUserToken = plain.access_token;
  refreshToken = plain.refresh_token!;
  expect(opaqueUserToken.split('.')).toHaveLength(1);

  const keyPair = await oidc.randomDPoPKeyPair('ES256');
  dpopJkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
  const serviceConfig = await discover(server, service);
  const DPoP = oidc.getDPoPHandle(serviceConfig, keyPair);
  dpopServiceToken = (await oidc.clientCredentialsGrant(serviceConfig, { resource: API, scope: 'fast:read' }, { DPoP })).access_token;
  dpopOpaqueToken = (await oidc.clientCredentialsGrant(serviceConfig, { resource: OPAQUE_API, scope: 'opaque:read' }, { DPoP })).access_token;
  const userDPoP = oidc.getDPoPHandle(config, keyPair);
  const bound = await authorize(server, config, new BrowserSession(server.issuer), { username: 'fiona', scope: 'openid fast:read roles', extra: { resource: API } });
  dpopUserToken = (await oidc.authorizationCodeGrant(config, bound.callback, { pkceCodeVerifier: bound.codeVerifier, expectedState: bound.state, expectedNonce: bound.nonce, idTokenExpected: true }, undefined, { DPoP: userDPoP })).access_token;
  expect(decodeJwt(dpopUserToken)).toMatchObject({ cnf: { jkt: dpopJkt } });
  expect(opaqueServiceToken.split('.')).toHaveLength(1);
});
afterAll(() => server?.stop());

const fastAnswers = () => server.logs.filter((line) => line.includes('"via":"fast-path"')).length;

/** One introspection, and whether the fast path answered it. */
async function introspect(fields: Record<string, string>, headers: Record<string, string>) {
  const before = fastAnswers();
  const res = await postForm(`${server.issuer}/token/introspection`, fields, headers);
  const text = await res.text();
  return {
    status: res.status,
    cacheControl: res.headers.get('cache-control'),
    contentType: res.headers.get('content-type'),
    body: res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : text,
    fast: fastAnswers() > before,
  };
}

// token_type_hint=refresh_token is only a hint (RFC 7662 §2.1): the engine still finds the access token.
const viaEngine = (fields: Record<string, string>, headers: Record<string, string>) => introspect({ ...fields, token_type_hint: 'refresh_token' }, headers);

describe('the introspection fast path', () => {
  it.each([
    ['a client_credentials token, by its resource server', () => serviceToken, () => rs],
    ['a client_credentials token, by its own client', () => serviceToken, () => service],
    ['a signed-in user token (roles, username), by its resource server', () => userToken, () => rs],
    ['a signed-in user token, by its own client', () => userToken, () => app],
    ['an opaque client_credentials token, by its resource server', () => opaqueServiceToken, () => opaqueRs],
    ['an opaque client_credentials token, by its own client', () => opaqueServiceToken, () => service],
    ['an opaque user token, by its own client', () => opaqueUserToken, () => app],
  ])('answers %s exactly as the engine does', async (_name, token, caller) => {
    const fast = await introspect({ token: token() }, basic(caller()));
    const engine = await viaEngine({ token: token() }, basic(caller()));
    expect(fast.fast).toBe(true);
    expect(engine.fast).toBe(false);
    expect(fast.body).toMatchObject({ active: true, iss: server.issuer, token_type: 'Bearer' });
    expect(fast).toEqual({ ...engine, fast: true });
    // Same keys in the same order, not only the same values.
    expect(Object.keys(fast.body)).toEqual(Object.keys(engine.body));
  });

  it.each([
    ['a DPoP-bound client_credentials JWT, by its resource server', () => dpopServiceToken, () => rs],
    ['a DPoP-bound client_credentials JWT, by its own client', () => dpopServiceToken, () => service],
    ['a DPoP-bound user JWT, by its resource server', () => dpopUserToken, () => rs],
    ['a DPoP-bound opaque token, by its resource server', () => dpopOpaqueToken, () => opaqueRs],
  ])('answers %s with cnf.jkt and token_type DPoP, exactly as the engine does', async (_name, token, caller) => {
    const fast = await introspect({ token: token() }, basic(caller()));
    const engine = await viaEngine({ token: token() }, basic(caller()));
    expect(fast.fast).toBe(true);
    expect(engine.fast).toBe(false);
    expect(engine.body).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: dpopJkt } });
    expect(fast).toEqual({ ...engine, fast: true });
    expect(Object.keys(fast.body)).toEqual(Object.keys(engine.body));
  });

  it('accepts client_secret_post as the engine does', async () => {
    const fields = { token: serviceToken, client_id: rs.client_id, client_secret: rs.client_secret! };
    const fast = await introspect(fields, {});
    expect(fast.fast).toBe(true);
    expect(fast).toEqual({ ...(await viaEngine(fields, {})), fast: true });
  });

  it('leaves every other case to the engine, which answers as before', async () => {
    const wrongSecret = basic({ ...rs, client_secret: 'not-the-secret' });
    const cases: Array<[string, Record<string, string>, Record<string, string>, (r: Awaited<ReturnType<typeof introspect>>) => void]> = [
      ['a wrong secret', { token: serviceToken }, wrongSecret, (r) => expect(r).toMatchObject({ status: 401, body: { error: 'invalid_client' } })],
      ['a caller the token is not for', { token: serviceToken }, basic(otherRs), (r) => expect(r.body).toEqual({ active: false })],
      ['a token that is not ours', { token: serviceToken.slice(0, -4) + 'AAAA' }, basic(rs), (r) => expect(r.body).toEqual({ active: false })],
      ['two ways of authenticating', { token: serviceToken, client_id: rs.client_id, client_secret: rs.client_secret! }, basic(rs), (r) => expect(r).toMatchObject({ status: 400, body: { error: 'invalid_request' } })],
      ['an unknown parameter', { token: serviceToken, extra: 'x' }, basic(rs), (r) => expect(r.body).toMatchObject({ active: true })],
      ['a refresh token', { token: refreshToken }, basic(app), (r) => expect(r.body).toMatchObject({ active: true, client_id: app.client_id })],
      ['an opaque token the caller may not see', { token: opaqueUserToken }, basic(rs), (r) => expect(r.body).toEqual({ active: false })],
      ['an unknown opaque token', { token: 'A'.repeat(43) }, basic(rs), (r) => expect(r.body).toEqual({ active: false })],
      ['a CORS request', { token: serviceToken }, { ...basic(rs), origin: 'https://app.example.test' }, (r) => expect(r.status).toBeLessThan(500)],
    ];
    for (const [name, fields, headers, check] of cases) {
      const result = await introspect(fields, headers);
      expect(result.fast, name).toBe(false);
      check(result);
    }
    // A repeated parameter, sent raw (URLSearchParams from a record cannot repeat one).
    const before = fastAnswers();
    const res = await fetch(`${server.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(rs) },
      body: `token=${serviceToken}&token=${serviceToken}`,
    });
    expect(res.status).toBe(400);
    expect(fastAnswers()).toBe(before);
  });

  it('leaves a previous secret in its rotation grace to the engine, which still accepts it', async () => {
    const caller = await createClient(server, { name: 'Rotating caller', redirectUris: [], grantTypes: ['client_credentials'], scope: 'fast:read' });
    const token = (await oidc.clientCredentialsGrant(await discover(server, caller), { resource: API, scope: 'fast:read' })).access_token;
    const rotated = (await runOperation(server.operations, 'client.rotate-secret', { clientId: caller.client_id, graceSeconds: 600 })) as { client_secret: string };
    const old = await introspect({ token }, basic(caller));
    expect(old).toMatchObject({ fast: false, status: 200, body: { active: true, client_id: caller.client_id } });
    const current = await introspect({ token }, basic({ ...caller, client_secret: rotated.client_secret }));
    expect(current).toMatchObject({ fast: true, status: 200, body: { active: true, client_id: caller.client_id } });
  });

  it('leaves a signed response (RFC 9701) to the engine', async () => {
    const signed = await introspect({ token: userToken }, { ...basic(rs), accept: 'application/token-introspection+jwt' });
    expect(signed.fast).toBe(false);
    expect(signed.status).toBe(200);
    expect(decodeJwt(signed.body as string)).toMatchObject({ token_introspection: { active: true, aud: API } });
  });

  it('answers inactive at once after a revocation (the engine decides inactive answers)', async () => {
    const token = (await oidc.clientCredentialsGrant(await discover(server, service), { resource: API, scope: 'fast:read' })).access_token;
    expect((await introspect({ token }, basic(rs))).fast).toBe(true);
    expect((await postForm(`${server.issuer}/token/revocation`, { token }, basic(service))).status).toBe(200);
    const after = await introspect({ token }, basic(rs));
    expect(after).toMatchObject({ fast: false, body: { active: false } });
  });
});
