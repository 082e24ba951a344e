import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

let server: TestServer;
let web: ClientMetadata;
let service: ClientMetadata;
/** Every secret value this file handles; none may appear in the server's log. */
const secrets: string[] = ['correct horse battery'];
const remember = (...values: Array<string | undefined>) => {
  for (const v of values) if (v) secrets.push(v);
};

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'alice');
  web = await createClient(server, { name: 'Web App' });
  service = await createClient(server, { name: 'Billing', redirectUris: [], grantTypes: ['client_credentials'], scope: 'invoices:read invoices:write' });
  remember(web.client_secret, service.client_secret);
});
afterAll(() => server?.stop());

describe('discovery and keys', () => {
  it('serves OpenID discovery and the RFC 8414 document with the same issuer', async () => {
    const config = await discover(server, web);
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(server.issuer);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.response_types_supported).toEqual(['code']);
    const rfc8414 = await (await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).json();
    expect(rfc8414.issuer).toBe(server.issuer);
    expect(rfc8414.token_endpoint).toBe(meta.token_endpoint);
    expect(meta.introspection_endpoint).toBeTruthy();
    expect(meta.revocation_endpoint).toBeTruthy();
    expect(meta.end_session_endpoint).toBeTruthy();
  });

  it('advertises only the issuer\'s own endpoints, whatever Host header a request carries', async () => {
    const { request } = await import('node:http');
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`${server.issuer}/.well-known/openid-configuration`, { headers: { host: 'evil.example' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    const meta = JSON.parse(body);
    for (const [key, value] of Object.entries(meta)) {
      if (key.endsWith('_endpoint') || key === 'jwks_uri') expect(String(value).startsWith(`${server.issuer}/`), key).toBe(true);
    }
    expect(body).not.toContain('evil.example');
  });

  it('publishes ES256, RS256 and EdDSA public keys and no private parts', async () => {
    const jwks = await (await fetch(`${server.issuer}/jwks`)).json();
    expect(jwks.keys.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    for (const key of jwks.keys) {
      expect(key.d).toBeUndefined();
      expect(key.p).toBeUndefined();
      expect(key.kid).toBeTruthy();
    }
  });
});

describe('client_credentials', () => {
  it('issues an RFC 9068 ES256 JWT access token for the default audience', async () => {
    const config = await discover(server, service);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'invoices:read' });
    remember(tokens.access_token);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe('invoices:read');
    const header = decodeProtectedHeader(tokens.access_token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), {
      issuer: server.issuer,
      audience: server.config.defaultAudience,
      typ: 'at+jwt',
    });
    expect(payload).toMatchObject({ sub: service.client_id, client_id: service.client_id, scope: 'invoices:read' });
    expect(payload.jti).toBeTruthy();
    expect(payload.exp! - payload.iat!).toBe(server.config.ttl.accessToken);
  });

  it('drops scopes the client was not registered for', async () => {
    const config = await discover(server, service);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'invoices:read admin' });
    expect(tokens.scope).toBe('invoices:read');
  });

  it('refuses an unknown resource with invalid_target', async () => {
    const config = await discover(server, service);
    await expect(oidc.clientCredentialsGrant(config, { resource: 'https://unknown.example/api' })).rejects.toMatchObject({ error: 'invalid_target' });
  });
});

describe('authorization_code with PKCE through the real pages', () => {
  it('signs in, consents, and receives a validated ID token, an access token for userinfo, and a refresh token', async () => {
    const config = await discover(server, web);
    const result = await authorize(server, config, new BrowserSession(server.issuer));
    expect(result.callback.searchParams.get('iss')).toBe(server.issuer); // RFC 9207
    const tokens = await exchange(config, result);
    remember(tokens.access_token, tokens.refresh_token, tokens.id_token, result.callback.searchParams.get('code') ?? undefined, result.codeVerifier);
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(server.issuer);
    expect(claims.aud).toBe(web.client_id);
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('RS256');
    expect(tokens.refresh_token).toBeTruthy();
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: claims.sub, preferred_username: 'alice', email: 'alice@example.test', name: 'alice Example' });
  });

  it('rotates refresh tokens; the new one works and the ID token subject stays the same', async () => {
    const config = await discover(server, web);
    const first = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer)));
    const second = await oidc.refreshTokenGrant(config, first.refresh_token!);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.claims()?.sub).toBe(first.claims()?.sub);
    const third = await oidc.refreshTokenGrant(config, second.refresh_token!);
    expect(third.access_token).toBeTruthy();
    remember(first.refresh_token, second.refresh_token, third.refresh_token, third.access_token);
  });

  it('signs a public client (auth method none) in with PKCE', async () => {
    const spa = await createClient(server, { name: 'SPA', authMethod: 'none' });
    const config = await discover(server, spa);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer)));
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('authenticates a client_secret_post client', async () => {
    const post = await createClient(server, { name: 'Post App', authMethod: 'client_secret_post' });
    const config = await discover(server, post);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer)));
    expect(tokens.id_token).toBeTruthy();
  });

  it('gives an RFC 9068 JWT for a resource named in the authorization request', async () => {
    const apiClient = await createClient(server, { name: 'API App', scope: 'openid invoices:read' });
    const config = await discover(server, apiClient);
    const result = await authorize(server, config, new BrowserSession(server.issuer), {
      scope: 'openid invoices:read',
      extra: { resource: server.config.defaultAudience },
    });
    const tokens = await exchange(config, result);
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), {
      issuer: server.issuer,
      audience: server.config.defaultAudience,
      typ: 'at+jwt',
    });
    expect(payload.scope).toBe('invoices:read');
    expect(payload.sub).toBe(tokens.claims()!.sub);
  });
});

describe('logs', () => {
  it('never contain a password, client secret, code, verifier or token used above', () => {
    const log = server.logs.join('');
    expect(log).toContain('"msg":"request"'); // the log was captured at all
    expect(secrets.length).toBeGreaterThan(8);
    for (const secret of secrets) expect(log).not.toContain(secret);
  });
});
