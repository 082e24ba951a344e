// A client that asked for offline_access without prompt=consent (as mod_auth_openidc, Authlib and oidc-agent
// do) holds a refresh token whose grant lacks offline_access (OpenID Connect Core §11); when it refreshes
// naming the scope it asked for, offline_access included, it gets tokens, not invalid_scope.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange, postForm, basic } from '../helpers/oauth.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'alice');
});
afterAll(() => server?.stop());

describe('refreshing with the scope that was asked for', () => {
  it('answers a refresh naming offline_access with tokens when the sign-in did not prompt for consent', async () => {
    const app = await createClient(server, { name: 'Apache app' });
    const config = await discover(server, app);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid email offline_access', promptConsent: false }));
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { scope: 'openid email offline_access' });
    expect(refreshed.access_token).toBeTruthy();
    expect(refreshed.scope?.split(' ')).toEqual(expect.arrayContaining(['openid', 'email']));
    // And again with the rotated token, as a long-lived client does.
    expect((await oidc.refreshTokenGrant(config, refreshed.refresh_token!, { scope: 'openid email offline_access' })).access_token).toBeTruthy();
  });

  it('still refuses a scope the grant never had', async () => {
    const app = await createClient(server, { name: 'Narrow app' });
    const config = await discover(server, app);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid offline_access', promptConsent: false }));
    const res = await postForm(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, scope: 'openid email offline_access' }, basic(app));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_scope' });
  });
});
