// RFC 8252 §7.3: a native app (a public client) registered with a loopback IP redirect URI may use any port
// there (it listens on whatever port it got); nothing else gets that latitude.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { createClient, createUser, discover } from '../helpers/oauth.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'alice');
});
afterAll(() => server?.stop());

/** Signs alice in from an authorization request to `redirectUri`; the URL the browser was sent back to. */
async function signInTo(config: oidc.Configuration, redirectUri: string, verifier: string): Promise<URL> {
  const session = new BrowserSession(server.issuer);
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  let step = await session.follow(url);
  for (let i = 0; i < 3 && step.url.origin === server.issuer; i++) {
    const html = await step.res.text();
    if (step.res.status !== 200) return step.url;
    const fields: Record<string, string> = html.includes('name="password"') ? { username: 'alice', password: 'correct horse battery' } : { remember: '1' };
    const res = await session.postForm(formAction(html), { csrf: csrfField(html), ...fields });
    step = await session.follow(res.headers.get('location')!);
  }
  return step.url;
}

/** The authorization request to `redirectUri` is refused on Tessera's own page (never sent to that URI). */
async function refused(config: oidc.Configuration, redirectUri: string) {
  const session = new BrowserSession(server.issuer);
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
  const { res, url: at } = await session.follow(url);
  expect(at.origin).toBe(server.issuer);
  expect(res.status).toBe(400);
  expect(await res.text()).toContain('redirect_uri');
}

describe('loopback redirect URIs of native apps', () => {
  it('accepts any port on a registered loopback IP redirect URI, and the code is redeemed there', async () => {
    for (const registered of ['http://127.0.0.1/callback', 'http://[::1]/callback']) {
      const app = await createClient(server, { name: 'CLI tool', redirectUris: [registered], authMethod: 'none', grantTypes: ['authorization_code'] });
      const config = await discover(server, app);
      const requested = registered.replace('/callback', ':53123/callback');
      const verifier = oidc.randomPKCECodeVerifier();
      const back = await signInTo(config, requested, verifier);
      expect(back.origin + back.pathname).toBe(requested);
      const tokens = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: oidc.skipStateCheck });
      expect(tokens.access_token).toBeTruthy();
    }
  });

  it('still matches the path exactly, and gives localhost and https redirect URIs no such latitude', async () => {
    const app = await createClient(server, { name: 'CLI tool', redirectUris: ['http://127.0.0.1/callback'], authMethod: 'none', grantTypes: ['authorization_code'] });
    await refused(await discover(server, app), 'http://127.0.0.1:53123/other');
    await refused(await discover(server, app), 'http://127.0.0.2:53123/callback');
    const named = await createClient(server, { name: 'Dev app', redirectUris: ['http://localhost/callback'], authMethod: 'none', grantTypes: ['authorization_code'] });
    await refused(await discover(server, named), 'http://localhost:53123/callback');
    const confidential = await createClient(server, { name: 'Dev web app', redirectUris: ['http://127.0.0.1/callback'] });
    await refused(await discover(server, confidential), 'http://127.0.0.1:53123/callback');
    const web = await createClient(server, { name: 'Web app', redirectUris: ['https://app.example.test/callback'] });
    await refused(await discover(server, web), 'https://app.example.test:8443/callback');
  });
});
