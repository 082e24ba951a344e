import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generateKeyPair, exportJWK } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createUser, exchange, REDIRECT_URI } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'alice');
});
afterAll(() => server?.stop());

const iat = async (input: Parameters<typeof runOperation<'iat.create'>>[2] = {}) =>
  (await runOperation(server.operations, 'iat.create', input)).initial_access_token;

async function register(metadata: Record<string, unknown>, token?: string) {
  const res = await fetch(`${server.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(metadata),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

const app = { client_name: 'Third-party app', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'client_secret_basic' };

describe('dynamic client registration with an initial access token (RFC 7591)', () => {
  it('registers a third-party app that then signs a person in', async () => {
    const { status, body } = await register(app, await iat());
    expect(status).toBe(201);
    expect(body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.registration_access_token).toBeTruthy();
    const config = await oidc.discovery(new URL(server.issuer), body.client_id!, body.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid' }));
    expect(tokens.claims()!.aud).toBe(body.client_id);
    const stored = await server.runtime.db('clients').where('id', body.client_id).first();
    expect(JSON.stringify(stored)).not.toContain(body.client_secret);
  });

  it('refuses registration without a token, with an unknown one, an expired one, and a used-up one', async () => {
    expect((await register(app)).status).toBe(401); // RFC 6750 §3.1: no token, no error code required
    expect((await register(app, 'not-a-token')).body.error).toBe('invalid_token');
    const single = await iat({ maxUses: 1 });
    expect((await register(app, single)).status).toBe(201);
    const again = await register(app, single);
    expect(again.status).toBe(401);
    expect(again.body.error).toBe('invalid_token');
    const expiring = await iat({ expiresIn: 60 });
    await server.runtime.db('tokens').where('model', 'InitialAccessToken').update({ payload: server.runtime.db.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::int - 600))`) });
    expect((await register(app, expiring)).body.error).toBe('invalid_token');
  });

  it('holds a client to the scopes and grant types its token allows, at registration and on update', async () => {
    const limited = await iat({ scopes: ['openid', 'profile'], grantTypes: ['authorization_code', 'refresh_token'] });
    const tooMuch = await register({ ...app, scope: 'openid email' }, limited);
    expect(tooMuch.body).toMatchObject({ error: 'invalid_client_metadata' });
    expect(tooMuch.body.error_description).toContain('email');
    const wrongGrant = await register({ ...app, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, limited);
    expect(wrongGrant.body.error).toBe('invalid_client_metadata');
    const ok = await register({ ...app, scope: 'openid profile' }, limited);
    expect(ok.status).toBe(201);
    const update = await fetch(ok.body.registration_client_uri!, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ok.body.registration_access_token}` },
      body: JSON.stringify({ ...app, client_id: ok.body.client_id, client_secret: ok.body.client_secret, scope: 'openid profile email' }),
    });
    expect(update.status).toBe(400);
    expect(((await update.json()) as { error: string }).error).toBe('invalid_client_metadata');
  });
});

describe('metadata validation, the same rules as every other path', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['http redirect URI off loopback', { redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri'],
    ['redirect URI with a fragment', { redirect_uris: ['https://app.example.com/cb#x'] }, 'invalid_redirect_uri'],
    ['javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    ['relative redirect URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri'],
    ['http logo', { logo_uri: 'http://cdn.example.com/logo.png' }, 'invalid_client_metadata'],
    ['http policy page', { policy_uri: 'http://example.com/privacy' }, 'invalid_client_metadata'],
    ['http jwks_uri', { jwks_uri: 'http://example.com/jwks', token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    ['unknown auth method', { token_endpoint_auth_method: 'client_secret_jwt_plain' }, 'invalid_client_metadata'],
    ['an over-long name', { client_name: 'x'.repeat(201) }, 'invalid_client_metadata'],
    ['too many redirect URIs', { redirect_uris: Array.from({ length: 21 }, (_, i) => `https://app.example.com/cb${i}`) }, 'invalid_redirect_uri'],
  ];
  for (const [what, change, error] of cases) {
    it(`refuses ${what} with ${error}`, async () => {
      const { status, body } = await register({ ...app, ...change }, await iat());
      expect(status).toBe(400);
      expect(body.error).toBe(error);
      expect(body.error_description).toBeTruthy();
    });
  }

  it('refuses a JWKS holding a private or a symmetric key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const priv = await register({ ...app, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [await exportJWK(privateKey)] } }, await iat());
    expect(priv.body.error).toBe('invalid_client_metadata');
    const sym = await register({ ...app, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, await iat());
    expect(sym.body.error).toBe('invalid_client_metadata');
  });
});

describe('client configuration endpoint (RFC 7592)', () => {
  it('reads, updates and deletes a client with its registration access token, which rotates on update', async () => {
    const { body } = await register(app, await iat());
    const headers = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    const read = await fetch(body.registration_client_uri!, { headers: headers(body.registration_access_token!) });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { client_name: string }).client_name).toBe('Third-party app');

    const updated = await fetch(body.registration_client_uri!, {
      method: 'PUT',
      headers: headers(body.registration_access_token!),
      body: JSON.stringify({ ...app, client_id: body.client_id, client_secret: body.client_secret, client_name: 'Renamed app' }),
    });
    expect(updated.status).toBe(200);
    const after = (await updated.json()) as Record<string, string>;
    expect(after.client_name).toBe('Renamed app');
    expect(after.registration_access_token).not.toBe(body.registration_access_token);
    expect((await fetch(body.registration_client_uri!, { headers: headers(body.registration_access_token!) })).status).toBe(401);

    const badUpdate = await fetch(body.registration_client_uri!, {
      method: 'PUT',
      headers: headers(after.registration_access_token!),
      body: JSON.stringify({ ...app, client_id: body.client_id, client_secret: body.client_secret, redirect_uris: ['http://evil.example.com/cb'] }),
    });
    expect(badUpdate.status).toBe(400);
    expect(((await badUpdate.json()) as { error: string }).error).toBe('invalid_redirect_uri');

    const deleted = await fetch(body.registration_client_uri!, { method: 'DELETE', headers: headers(after.registration_access_token!) });
    expect(deleted.status).toBe(204);
    expect(await server.runtime.db('clients').where('id', body.client_id).first()).toBeUndefined();
  });
});

describe('registration policy', () => {
  it('open: registers without a token; disabled: no registration endpoint at all', async () => {
    const open = await startTestServer({ env: { REGISTRATION_POLICY: 'open' } });
    try {
      const res = await fetch(`${open.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app) });
      expect(res.status).toBe(201);
    } finally {
      await open.stop();
    }
    const closed = await startTestServer({ env: { REGISTRATION_POLICY: 'disabled' } });
    try {
      const res = await fetch(`${closed.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app) });
      expect(res.status).toBe(404);
      expect((await (await fetch(`${closed.issuer}/.well-known/openid-configuration`)).json()).registration_endpoint).toBeUndefined();
      await expect(runOperation(closed.operations, 'iat.create', {})).rejects.toThrow(/REGISTRATION_POLICY/);
    } finally {
      await closed.stop();
    }
  });
});
