// Python Authlib (Debian's python3-authlib) as the client of a real Tessera: the script
// test/interop/python/authlib_client.py discovers the server, asks for tokens the way Authlib does by
// default, and checks the JWTs' signatures against jwks_uri with authlib.jose. Sign-in and consent are
// walked by BrowserSession, standing in for the person at the browser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { REDIRECT_URI, createClient, createUser } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { runPython, startPython } from './helpers/python.ts';

const SCRIPT = 'authlib_client.py';
const REPORTS = 'https://reports.example.test/api';

let server: TestServer;
let service: ClientMetadata;
let webApp: ClientMetadata;
let alice: { id: string };

beforeAll(async () => {
  server = await startTestServer();
  alice = (await createUser(server, 'alice')) as { id: string };
  await runOperation(server.operations, 'resource.create', { identifier: REPORTS, scopes: [{ name: 'reports:read' }, { name: 'reports:write' }] });
  service = await createClient(server, { name: 'Authlib service', redirectUris: [], grantTypes: ['client_credentials'], scope: 'reports:read' });
  webApp = await createClient(server, { name: 'Authlib web app', scope: 'openid profile email offline_access' });
});
afterAll(() => server?.stop());

/** Walks a browser from the client's authorization URL through login and consent to the client's redirect. */
async function signInAndConsent(session: BrowserSession, authorizationUrl: string): Promise<URL> {
  let step = await session.follow(authorizationUrl);
  for (let i = 0; i < 4 && step.url.origin === server.issuer; i++) {
    const html = await step.res.text();
    expect(step.res.status, html.slice(0, 300)).toBe(200);
    const csrf = csrfField(html);
    const fields: Record<string, string> = html.includes('name="password"') ? { csrf, username: 'alice', password: 'correct horse battery' } : { csrf, remember: '1' };
    const res = await session.postForm(formAction(html), fields);
    expect(res.status).toBe(303);
    step = await session.follow(res.headers.get('location')!);
  }
  expect(step.url.origin + step.url.pathname).toBe(REDIRECT_URI);
  return step.url;
}

describe('Python Authlib as the client', () => {
  it('client_credentials with a resource indicator: a JWT for that audience, checked by Authlib against jwks_uri', async () => {
    const { result, code, stderr } = await runPython(SCRIPT, ['client-credentials', server.issuer, service.client_id, service.client_secret!, REPORTS, 'reports:read']);
    expect(result.error, JSON.stringify(result) + stderr).toBeUndefined();
    expect(code).toBe(0);
    const token = result.token as Record<string, unknown>;
    expect(token).toMatchObject({ token_type: 'Bearer', scope: 'reports:read', expires_in: expect.any(Number) });
    expect(token).not.toHaveProperty('refresh_token');
    expect(result.claims).toMatchObject({ iss: server.issuer, aud: REPORTS, client_id: service.client_id, scope: 'reports:read' });
  });

  it('client_credentials for a resource Tessera does not know: invalid_target reaches Authlib as an OAuthError', async () => {
    const { result, code } = await runPython(SCRIPT, ['client-credentials', server.issuer, service.client_id, service.client_secret!, 'https://unknown.example.test/', 'reports:read']);
    expect(result).toMatchObject({ step: 'token', error: 'invalid_target' });
    expect(code).toBe(1);
  });

  // Authlib sends no `prompt` unless the app adds one, so most Authlib apps ask for offline_access without
  // prompt=consent (which OIDC Core §11 makes the condition for granting it); both must refresh.
  it.each([
    { prompt: '', label: 'no prompt, as Authlib sends by default' },
    { prompt: 'consent', label: 'prompt=consent' },
  ])('authorization_code + PKCE S256, then refresh with the scope it asked for, offline_access included ($label)', async ({ prompt }) => {
    const scope = 'openid profile offline_access';
    const py = startPython(SCRIPT, ['authorization-code', server.issuer, webApp.client_id, webApp.client_secret!, REDIRECT_URI, scope, prompt]);
    try {
      const { authorization_url } = (await py.next()) as { authorization_url: string };
      const url = new URL(authorization_url);
      expect(url.origin + url.pathname).toBe(`${server.issuer}/auth`);
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        response_type: 'code',
        client_id: webApp.client_id,
        redirect_uri: REDIRECT_URI,
        scope,
        code_challenge_method: 'S256',
        code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        state: expect.any(String),
        nonce: expect.any(String),
      });
      expect(url.searchParams.get('prompt')).toBe(prompt || null);

      const callback = await signInAndConsent(new BrowserSession(server.issuer), authorization_url);
      expect(callback.searchParams.get('state')).toBe(url.searchParams.get('state'));
      expect(callback.searchParams.get('iss')).toBe(server.issuer);
      py.send(callback.href);

      const result = await py.next();
      expect(result.error, `${JSON.stringify(result)} ${py.stderr()}`).toBeUndefined();
      expect(await py.exited()).toBe(0);
      const token = result.token as Record<string, string>;
      expect(token).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), refresh_token: expect.any(String), id_token: expect.any(String) });
      expect(token.scope!.split(' ')).toEqual(expect.arrayContaining(['openid', 'profile']));
      if (prompt === 'consent') expect(token.scope!.split(' ').sort()).toEqual(['offline_access', 'openid', 'profile']);
      expect(result.id_token_claims).toMatchObject({ iss: server.issuer, aud: webApp.client_id, sub: alice.id });

      const refreshed = result.refresh as Record<string, string>;
      expect(refreshed).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) });
      expect(refreshed.access_token).not.toBe(token.access_token);
      // The same grant: openid and profile again, nothing the first response did not have (offline_access
      // names the refresh token itself, so a refreshed access token's scope need not repeat it).
      expect(refreshed.scope!.split(' ')).toEqual(expect.arrayContaining(['openid', 'profile']));
      expect(token.scope!.split(' ')).toEqual(expect.arrayContaining(refreshed.scope!.split(' ')));
      expect(refreshed.refresh_token, 'refresh tokens rotate').not.toBe(token.refresh_token);
      // The refreshed access token works where the client would use it.
      const userinfo = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
      expect(userinfo.status).toBe(200);
      expect(await userinfo.json()).toMatchObject({ sub: alice.id, name: 'alice Example' });
    } finally {
      py.kill();
    }
  });
});
