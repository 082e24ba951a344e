// The engine reads clients, grants and accounts through one-second caches (oidc/engine-caches.ts); a change
// made in this process drops the cached copy at once (store/change-notices.ts), so nothing it answers next
// is older than the change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange, promptNone } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';

let server: TestServer;
let aliceId: string;

beforeAll(async () => {
  server = await startTestServer();
  aliceId = (await createUser(server, 'alice')).id;
});
afterAll(() => server?.stop());

describe('cached engine reads follow this process\'s changes at once', () => {
  it('userinfo shows an account\'s new name on the very next call', async () => {
    const app = await createClient(server);
    const config = await discover(server, app);
    const tokens = await exchange(config, await authorize(server, config, new BrowserSession(server.issuer), { scope: 'openid profile offline_access' }));
    const claims = () => oidc.fetchUserInfo(config, tokens.access_token, aliceId);
    expect((await claims()).name).not.toBe('Alice Renamed');
    await runOperation(server.operations, 'user.update', { user: 'alice', name: 'Alice Renamed' });
    expect((await claims()).name).toBe('Alice Renamed');
    // A refresh reads the account too.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.claims()?.name ?? (await oidc.fetchUserInfo(config, refreshed.access_token, aliceId)).name).toBe('Alice Renamed');
  });

  it('a grant revoked here is not found again: silent sign-in asks for consent', async () => {
    const app = await createClient(server, { name: 'Third-party app' });
    const config = await discover(server, app);
    const session = new BrowserSession(server.issuer);
    const tokens = await exchange(config, await authorize(server, config, session, { scope: 'openid offline_access' }));
    const silent = async () => (await promptNone(session, config)).searchParams;
    expect((await silent()).get('code')).toBeTruthy();
    const grants = await runOperation(server.operations, 'grant.list', { user: 'alice', client: app.client_id });
    for (const grant of grants.grants) await runOperation(server.operations, 'grant.revoke', { grantId: grant.grant_id });
    expect((await silent()).get('error')).toBe('consent_required');
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
