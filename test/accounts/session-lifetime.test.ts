import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange, promptNone } from '../helpers/oauth.ts';
import { startRelyingParty, type RelyingParty } from '../helpers/relying-party.ts';
import { runOperation } from '../../src/services/operations.ts';
import { listAuditEvents } from '../../src/store/audit.ts';

let server: TestServer;
let rp: RelyingParty;

beforeAll(async () => {
  server = await startTestServer({ env: { SESSION_IDLE_TTL: '2', CLOCK_TOLERANCE: '0' } });
  rp = await startRelyingParty();
  await createUser(server, 'alice');
});
afterAll(async () => {
  await server?.stop();
  await rp?.close();
});


describe('session lifetime', () => {
  it('ends a session left unused for SESSION_IDLE_TTL', async () => {
    const client = await createClient(server);
    const config = await discover(server, client);
    const session = new BrowserSession(server.issuer);
    await authorize(server, config, session);
    expect((await promptNone(session, config)).searchParams.get('code')).toBeTruthy();
    await new Promise((r) => setTimeout(r, 3000));
    expect((await promptNone(session, config)).searchParams.get('error')).toBe('login_required');
  });
});

describe('an operator ending a person\'s sessions', () => {
  it('signs them out everywhere with back-channel logout, keeps their grants, and audits it', async () => {
    const client = await createClient(server, { backchannelLogoutUri: `${rp.url}/backchannel` });
    const config = await discover(server, client);
    const session = new BrowserSession(server.issuer);
    const tokens = await exchange(config, await authorize(server, config, session));
    const result = await runOperation(server.operations, 'user.end-sessions', { user: 'alice' });
    expect(result.sessions_ended).toBeGreaterThanOrEqual(1);
    expect(result.logout_notifications).toBe(1);
    expect(await rp.waitForLogoutTokens(1)).toHaveLength(1);
    expect((await promptNone(session, config)).searchParams.get('error')).toBe('login_required');
    // offline_access grants outlive the session, as after a normal sign-out.
    expect((await oidc.refreshTokenGrant(config, tokens.refresh_token!)).access_token).toBeTruthy();
    expect((await listAuditEvents(server.runtime.db)).map((e) => e.type)).toContain('sessions.ended');
  });

  it('records a sign-out through the end-session endpoint in the audit trail', async () => {
    const client = await createClient(server, { postLogoutRedirectUris: ['http://127.0.0.1:9/bye'] });
    const config = await discover(server, client);
    const session = new BrowserSession(server.issuer);
    const tokens = await exchange(config, await authorize(server, config, session));
    const page = await (await session.request(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }))).text();
    const action = page.match(/action="([^"]+)"/)![1]!;
    const xsrf = page.match(/name="xsrf" value="([^"]+)"/)![1]!;
    await session.postForm(action, { xsrf, logout: 'yes' });
    // Engine events are not awaited by the engine: the audit row lands just after the response.
    let logout: Awaited<ReturnType<typeof listAuditEvents>>[number] | undefined;
    for (let i = 0; i < 40 && !logout; i++) {
      logout = (await listAuditEvents(server.runtime.db, { type: 'logout' }))[0];
      if (!logout) await new Promise((r) => setTimeout(r, 50));
    }
    expect(logout).toMatchObject({ type: 'logout', accountId: tokens.claims()!.sub });
  });
});
