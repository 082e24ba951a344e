// RFC 9449 DPoP end to end: openid-client v6 (getDPoPHandle, fetchProtectedResource with the DPoP option) gets
// sender-constrained tokens from a real Tessera and calls an API protected by the resource-server module, in
// each of its three modes. A bound token works with its key and is useless without it: presented as a bearer
// token, with another key's proof, with a replayed proof, or with a proof made for another method, URL or
// token, it is refused with RFC 9449 §7.1 challenges. At the token endpoint: nonces, the binding of a public
// client's refresh token, and clients that must use DPoP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Koa from 'koa';
import Router from '@koa/router';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, basic, createClient, createUser, discover, postForm } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { accessTokenHash, createTokenValidator, requireAccess, type AccessTokenClaims, type TokenValidator, type ValidationMode } from '../../src/resource-server/index.ts';
import { quietErrors, registerApi, serviceClient, type RegisteredApi } from './helpers.ts';

const INVOICES = 'https://invoices.example.test/api';
const REPORTS = 'https://reports.example.test/api'; // opaque tokens: introspection only
const MODES: ValidationMode[] = ['local', 'local+feed', 'introspection'];
const slug = (mode: ValidationMode) => mode.replace('+', '-');

let server: TestServer;
let invoices: RegisteredApi;
let reports: RegisteredApi;
let service: oidc.Configuration;
let serviceMetadata: ClientMetadata;
let api: Server;
let apiUrl: string;
const validators: TokenValidator[] = [];

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const s = createServer(handler);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve({ server: s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` })));
}

/** /<mode>/invoices for each mode (GET reads, POST writes), and /opaque/reports through introspection. */
function apiApp(byMode: Map<string, TokenValidator>, opaque: TokenValidator, withNonces: TokenValidator): Koa {
  const app = new Koa();
  const router = new Router();
  const answer = (ctx: Koa.Context) => {
    const auth = ctx.state.auth as AccessTokenClaims;
    ctx.body = { client_id: auth.client_id, cnf: auth.cnf };
  };
  for (const [mode, v] of byMode) {
    router.get(`/${slug(mode as ValidationMode)}/invoices`, requireAccess(v, { scopes: ['invoices:read'] }), answer);
    router.post(`/${slug(mode as ValidationMode)}/invoices`, requireAccess(v, { scopes: ['invoices:read'] }), answer);
  }
  router.get('/opaque/reports', requireAccess(opaque, { scopes: ['invoices:read'] }), answer);
  router.get('/nonce/invoices', requireAccess(withNonces, { scopes: ['invoices:read'] }), answer);
  app.use(router.routes());
  return app;
}

beforeAll(async () => {
  server = await startTestServer();
  invoices = await registerApi(server, INVOICES);
  reports = await registerApi(server, REPORTS, { format: 'opaque' });
  ({ config: service, client: serviceMetadata } = await serviceClient(server, 'Billing service'));
  await createUser(server, 'alice');
  const byMode = new Map<string, TokenValidator>();
  const make = (mode: ValidationMode, target: RegisteredApi) => {
    const v = createTokenValidator({ issuer: server.issuer, audience: target.identifier, mode, clientId: target.clientId, clientSecret: target.clientSecret, onError: quietErrors().onError });
    validators.push(v);
    return v;
  };
  for (const mode of MODES) byMode.set(mode, make(mode, invoices));
  const opaque = make('introspection', reports);
  // An API that issues its own DPoP nonces (RFC 9449 §9).
  const withNonces = createTokenValidator({ issuer: server.issuer, audience: INVOICES, mode: 'local', dpop: { nonceSecret: 'n'.repeat(40) } });
  validators.push(withNonces);
  await Promise.all(validators.map((v) => v.start()));
  ({ server: api, url: apiUrl } = await listen(apiApp(byMode, opaque, withNonces).callback()));
});
afterAll(async () => {
  if (api) {
    api.closeAllConnections();
    await new Promise((r) => api.close(r));
  }
  await Promise.all(validators.map((v) => v.stop()));
  await server?.stop();
});

/** An openid-client DPoP handle on a fresh key, and the key's thumbprint (what a bound token's cnf.jkt names). */
async function dpopKey(config: oidc.Configuration = service) {
  const keyPair = await oidc.randomDPoPKeyPair('ES256');
  const jwk = await exportJWK(keyPair.publicKey);
  return { keyPair, jwk, handle: oidc.getDPoPHandle(config, keyPair), jkt: await calculateJwkThumbprint(jwk) };
}
type DPoPKey = Awaited<ReturnType<typeof dpopKey>>;

async function boundServiceToken(key: DPoPKey, resource = INVOICES): Promise<oidc.TokenEndpointResponse> {
  return oidc.clientCredentialsGrant(service, { resource, scope: 'invoices:read' }, { DPoP: key.handle });
}

/** The API as openid-client calls it; a refusal (thrown as a WWW-Authenticate challenge) becomes its status and challenge. */
async function callApi(token: string, path: string, options: { key?: DPoPKey; method?: string } = {}) {
  try {
    const res = await oidc.fetchProtectedResource(service, token, new URL(`${apiUrl}${path}`), options.method ?? 'GET', undefined, undefined, options.key ? { DPoP: options.key.handle } : undefined);
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, challenge: null as string | null };
  } catch (error) {
    const response = (error as { response?: Response }).response;
    if (!response) throw error;
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, challenge: response.headers.get('www-authenticate') };
  }
}

/** A DPoP proof made by hand (for the cases a well-behaved client never sends), signed with `key`. */
async function proof(key: DPoPKey, claims: { htm?: string; htu: string; token?: string; jti?: string; iat?: number; nonce?: string }, header: Record<string, unknown> = {}) {
  return new SignJWT({ htm: claims.htm ?? 'GET', htu: claims.htu, jti: claims.jti ?? randomUUID(), iat: claims.iat ?? Math.floor(Date.now() / 1000), ...(claims.token ? { ath: accessTokenHash(claims.token) } : {}), ...(claims.nonce ? { nonce: claims.nonce } : {}) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk as JWK, ...header })
    .sign(key.keyPair.privateKey);
}

const rawCall = (path: string, headers: Record<string, string>, method = 'GET') => fetch(`${apiUrl}${path}`, { method, headers });

async function refusal(res: Response) {
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as Record<string, unknown> };
}

describe('DPoP at the token endpoint', () => {
  it('advertises the proof algorithms in discovery', async () => {
    const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'EdDSA']));
    expect(metadata.dpop_signing_alg_values_supported).not.toContain('HS256');
  });

  it('asks for a server nonce first (use_dpop_nonce + DPoP-Nonce), then accepts the proof that carries it', async () => {
    const key = await dpopKey();
    const tokenEndpoint = `${server.issuer}/token`;
    const form = { grant_type: 'client_credentials', resource: INVOICES, scope: 'invoices:read' };
    const auth = basic(serviceMetadata);
    const first = await postForm(tokenEndpoint, form, { ...auth, dpop: await proof(key, { htm: 'POST', htu: tokenEndpoint }) });
    expect(first.status).toBe(400);
    expect(await first.json()).toMatchObject({ error: 'use_dpop_nonce' });
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/);
    const second = await postForm(tokenEndpoint, form, { ...auth, dpop: await proof(key, { htm: 'POST', htu: tokenEndpoint, nonce: nonce! }) });
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ token_type: 'DPoP' });
    // A nonce the server never issued is another challenge, not an error.
    const forged = await postForm(tokenEndpoint, form, { ...auth, dpop: await proof(key, { htm: 'POST', htu: tokenEndpoint, nonce: 'not-a-nonce' }) });
    expect(await forged.json()).toMatchObject({ error: 'use_dpop_nonce' });
  });

  it('binds the access token to the key: token_type DPoP and cnf.jkt in the JWT (RFC 9068 tokens)', async () => {
    const key = await dpopKey();
    const tokens = await boundServiceToken(key);
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: INVOICES, cnf: { jkt: key.jkt } });
  });

  it('refuses a replayed proof at the token endpoint', async () => {
    const key = await dpopKey();
    const tokenEndpoint = `${server.issuer}/token`;
    const form = { grant_type: 'client_credentials', resource: INVOICES, scope: 'invoices:read' };
    const auth = basic(serviceMetadata);
    const nonce = (await postForm(tokenEndpoint, form, { ...auth, dpop: await proof(key, { htm: 'POST', htu: tokenEndpoint }) })).headers.get('dpop-nonce')!;
    const headers = { ...auth, dpop: await proof(key, { htm: 'POST', htu: tokenEndpoint, nonce }) };
    expect((await postForm(tokenEndpoint, form, headers)).status).toBe(200);
    // The same request again succeeds with a new proof; only the proof's second use is refused.
    const replay = await postForm(tokenEndpoint, form, headers);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await postForm(tokenEndpoint, form, { ...auth, dpop: await proof(key, { htm: 'POST', htu: tokenEndpoint, nonce }) })).status).toBe(200);
  });

  it("binds a public client's refresh token: only the same key refreshes it", async () => {
    const app = await createClient(server, { name: 'Native app', authMethod: 'none', scope: 'openid offline_access invoices:read', grantTypes: ['authorization_code', 'refresh_token'] });
    const config = await discover(server, app);
    const key = await dpopKey(config);
    const result = await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid offline_access invoices:read', extra: { resource: INVOICES } });
    const tokens = await oidc.authorizationCodeGrant(config, result.callback, { pkceCodeVerifier: result.codeVerifier, expectedState: result.state, expectedNonce: result.nonce, idTokenExpected: true }, undefined, { DPoP: key.handle });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ cnf: { jkt: key.jkt } });
    const refreshToken = tokens.refresh_token!;

    // Another key, or none at all: refused, and the token is not spent by the attempt.
    const thief = await dpopKey(config);
    await expect(oidc.refreshTokenGrant(config, refreshToken, { resource: INVOICES }, { DPoP: thief.handle })).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(config, refreshToken, { resource: INVOICES })).rejects.toMatchObject({ error: 'invalid_grant' });

    const refreshed = await oidc.refreshTokenGrant(config, refreshToken, { resource: INVOICES }, { DPoP: key.handle });
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ cnf: { jkt: key.jkt } });
    expect((await callApi(refreshed.access_token, '/local/invoices', { key })).status).toBe(200);
  });

  it('binds the authorization code to the key named by dpop_jkt (RFC 9449 §10): a stolen code is useless', async () => {
    const app = await createClient(server, { name: 'Agent with dpop_jkt', authMethod: 'none', scope: 'openid' });
    const config = await discover(server, app);
    const key = await dpopKey(config);
    const signIn = async () => {
      const result = await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid', extra: { dpop_jkt: key.jkt } });
      return { callback: result.callback, checks: { pkceCodeVerifier: result.codeVerifier, expectedState: result.state, expectedNonce: result.nonce, idTokenExpected: true } };
    };
    // The app's own key redeems it.
    const mine = await signIn();
    const tokens = await oidc.authorizationCodeGrant(config, mine.callback, mine.checks, undefined, { DPoP: key.handle });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    // Without a proof, or with another key: refused — and the attempt spends the code, so the thief gets nothing.
    const stolen = await signIn();
    await expect(oidc.authorizationCodeGrant(config, stolen.callback, stolen.checks)).rejects.toMatchObject({ error: 'invalid_grant' });
    const stolenAgain = await signIn();
    await expect(oidc.authorizationCodeGrant(config, stolenAgain.callback, stolenAgain.checks, undefined, { DPoP: (await dpopKey(config)).handle })).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.authorizationCodeGrant(config, stolenAgain.callback, stolenAgain.checks, undefined, { DPoP: key.handle })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it("binds the token for Tessera's own userinfo endpoint: useless there without its key", async () => {
    const app = await createClient(server, { name: 'Agent', authMethod: 'none', scope: 'openid profile' });
    const config = await discover(server, app);
    const key = await dpopKey(config);
    const result = await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid profile' });
    const tokens = await oidc.authorizationCodeGrant(config, result.callback, { pkceCodeVerifier: result.codeVerifier, expectedState: result.state, expectedNonce: result.nonce, idTokenExpected: true }, undefined, { DPoP: key.handle });
    const sub = tokens.claims()!.sub;
    expect(await oidc.fetchUserInfo(config, tokens.access_token, sub, { DPoP: key.handle })).toMatchObject({ sub });
    await expect(oidc.fetchUserInfo(config, tokens.access_token, sub)).rejects.toMatchObject({ response: { status: 401 } });
    await expect(oidc.fetchUserInfo(config, tokens.access_token, sub, { DPoP: (await dpopKey(config)).handle })).rejects.toMatchObject({ response: { status: 401 } });
  });

  it('a client registered with --require-dpop (dpop_bound_access_tokens) gets no token without a proof', async () => {
    const strict = await createClient(server, { name: 'Strict service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'invoices:read', requireDpop: true });
    expect(strict.dpop_bound_access_tokens).toBe(true);
    const config = await discover(server, strict);
    await expect(oidc.clientCredentialsGrant(config, { resource: INVOICES, scope: 'invoices:read' })).rejects.toMatchObject({ error: expect.stringMatching(/invalid_grant|invalid_request|invalid_dpop_proof/) });
    const key = await dpopKey(config);
    const tokens = await oidc.clientCredentialsGrant(config, { resource: INVOICES, scope: 'invoices:read' }, { DPoP: key.handle });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ cnf: { jkt: key.jkt } });
  });
});

describe.each(MODES)('a DPoP-bound token at the API (%s mode)', (mode) => {
  const path = `/${slug(mode)}/invoices`;

  it('works with its key (openid-client fetchProtectedResource with the DPoP option)', async () => {
    const key = await dpopKey();
    const { access_token: token } = await boundServiceToken(key);
    const first = await callApi(token, path, { key });
    expect(first).toMatchObject({ status: 200, body: { cnf: { jkt: key.jkt } } });
    // Each call carries a new proof; the same token goes on working.
    expect((await callApi(token, path, { key, method: 'POST' })).status).toBe(200);
  });

  it('is refused when stolen: presented as a bearer token', async () => {
    const { access_token: token } = await boundServiceToken(await dpopKey());
    const stolen = await callApi(token, path);
    expect(stolen.status).toBe(401);
    expect(stolen.challenge).toMatch(/^DPoP error="invalid_token", error_description="[^"]+", algs="[A-Za-z0-9 ]+"$/);
    expect(stolen.body).toMatchObject({ error: 'invalid_token' });
  });

  it('is refused when stolen: presented with a proof from another key', async () => {
    const { access_token: token } = await boundServiceToken(await dpopKey());
    const thief = await dpopKey();
    const stolen = await callApi(token, path, { key: thief });
    expect(stolen.status).toBe(401);
    expect(stolen.challenge).toMatch(/^DPoP error="invalid_token"/);
  });

  it('refuses a replayed proof (same jti)', async () => {
    const key = await dpopKey();
    const { access_token: token } = await boundServiceToken(key);
    const headers = { authorization: `DPoP ${token}`, dpop: await proof(key, { htu: `${apiUrl}${path}`, token }) };
    expect((await rawCall(path, headers)).status).toBe(200);
    const replay = await refusal(await rawCall(path, headers));
    expect(replay).toMatchObject({ status: 401, body: { error: 'invalid_dpop_proof' } });
    expect(replay.challenge).toMatch(/^DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used", algs="/);
  });

  it('refuses a proof made for another method, URL or access token', async () => {
    const key = await dpopKey();
    const { access_token: token } = await boundServiceToken(key);
    const { access_token: otherToken } = await boundServiceToken(key);
    const htu = `${apiUrl}${path}`;
    const cases: Array<[string, string, string]> = [
      ['htm', await proof(key, { htm: 'POST', htu, token }), 'another HTTP method'],
      ['htu', await proof(key, { htu: `${apiUrl}/elsewhere`, token }), 'another URL'],
      ['htu host', await proof(key, { htu: htu.replace('127.0.0.1', 'localhost'), token }), 'another URL'],
      ['ath', await proof(key, { htu, token: otherToken }), 'another access token'],
      ['no ath', await proof(key, { htu }), 'another access token'],
      ['old iat', await proof(key, { htu, token, iat: Math.floor(Date.now() / 1000) - 3600 }), 'not recent'],
      ['future iat', await proof(key, { htu, token, iat: Math.floor(Date.now() / 1000) + 3600 }), 'not recent'],
    ];
    for (const [name, dpop, description] of cases) {
      const res = await refusal(await rawCall(path, { authorization: `DPoP ${token}`, dpop }));
      expect(res.status, name).toBe(401);
      expect(res.body, name).toMatchObject({ error: 'invalid_dpop_proof' });
      expect(res.body.error_description, name).toContain(description);
    }
    // A query string is not part of htu (RFC 9449 §4.3): the proof for the bare URL fits.
    expect((await rawCall(`${path}?page=2`, { authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token }) })).status).toBe(200);
  });

  it('answers hostile proofs with invalid_dpop_proof, never a 500', async () => {
    const key = await dpopKey();
    const { access_token: token } = await boundServiceToken(key);
    const htu = `${apiUrl}${path}`;
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const good = await proof(key, { htu, token });
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const hmac = await new SignJWT({ htm: 'GET', htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(token) })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } as never })
      .sign(new TextEncoder().encode('secret'));
    const cases: Array<[string, Record<string, string>]> = [
      ['no proof', {}],
      ['not a JWT', { dpop: 'garbage' }],
      ['two proofs', { dpop: `${good}, ${good}` }],
      ['alg none', { dpop: `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${good.split('.')[1]}.` }],
      ['HS256', { dpop: hmac }],
      ['wrong typ', { dpop: await proof(key, { htu, token }, { typ: 'JWT' }) }],
      ['private key embedded', { dpop: await proof(key, { htu, token }, { jwk: await exportJWK(privateKey) }) }],
      ['signed by another key than its jwk', { dpop: await proof({ ...key, jwk: (await dpopKey()).jwk }, { htu, token }) }],
      ['no jwk', { dpop: await proof(key, { htu, token }, { jwk: undefined }) }],
      ['huge', { dpop: 'a'.repeat(9000) }],
    ];
    for (const [name, headers] of cases) {
      const res = await refusal(await rawCall(path, { authorization: `DPoP ${token}`, ...headers }));
      expect(res.status, name).toBe(401);
      expect(res.body.error, name).toBe('invalid_dpop_proof');
    }
    expect((await rawCall(path, { authorization: 'DPoP not a token!' })).status).toBe(400);
  });

  it('refuses an unbound token presented under the DPoP scheme, and still accepts it as a bearer token', async () => {
    const { access_token: plain } = await oidc.clientCredentialsGrant(service, { resource: INVOICES, scope: 'invoices:read' });
    const key = await dpopKey();
    const res = await refusal(await rawCall(path, { authorization: `DPoP ${plain}`, dpop: await proof(key, { htu: `${apiUrl}${path}`, token: plain }) }));
    expect(res).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    expect((await callApi(plain, path)).status).toBe(200);
  });
});

describe('a DPoP-bound opaque token (introspection)', () => {
  it('works with its key and is refused without it', async () => {
    const key = await dpopKey();
    const { access_token: token } = await boundServiceToken(key, REPORTS);
    expect(token.split('.')).toHaveLength(1);
    expect(await callApi(token, '/opaque/reports', { key })).toMatchObject({ status: 200, body: { cnf: { jkt: key.jkt } } });
    expect((await callApi(token, '/opaque/reports')).status).toBe(401);
    expect((await callApi(token, '/opaque/reports', { key: await dpopKey() })).status).toBe(401);
  });
});

describe('an API that issues DPoP nonces (RFC 9449 §9)', () => {
  it('challenges a proof without its nonce (use_dpop_nonce + DPoP-Nonce); openid-client retries with it', async () => {
    const key = await dpopKey();
    const { access_token: token } = await boundServiceToken(key);
    const htu = `${apiUrl}/nonce/invoices`;
    const first = await rawCall('/nonce/invoices', { authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token }) });
    expect(first.status).toBe(401);
    expect(first.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/);
    const nonce = first.headers.get('dpop-nonce')!;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await rawCall('/nonce/invoices', { authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token, nonce }) })).status).toBe(200);
    const forged = await rawCall('/nonce/invoices', { authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token, nonce: 'A'.repeat(43) }) });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('dpop-nonce')).toBe(nonce);
    // openid-client: the challenge, the nonce cached, the request repeated — one call for the application.
    const fresh = await dpopKey();
    const { access_token: other } = await boundServiceToken(fresh);
    expect(await callApi(other, '/nonce/invoices', { key: fresh })).toMatchObject({ status: 200, body: { cnf: { jkt: fresh.jkt } } });
    // A stolen token is still refused before any nonce is offered.
    expect(await callApi(other, '/nonce/invoices')).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
  });
});

describe('the WWW-Authenticate challenge', () => {
  it('offers both schemes to a request without credentials (RFC 9449 §7.1)', async () => {
    const res = await rawCall('/local/invoices', {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="api", DPoP algs="ES256[A-Za-z0-9 ]*"$/);
  });
});
