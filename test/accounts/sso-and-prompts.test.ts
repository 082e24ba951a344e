import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange, REDIRECT_URI } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { listAuditEvents } from '../../src/store/audit.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ env: { LOGIN_MAX_FAILURES: '3', LOGIN_LOCK_SECONDS: '120', SELF_REGISTRATION: 'true' } });
  await createUser(server, 'alice');
});
afterAll(() => server?.stop());

async function authorizeUrl(client: ClientMetadata, extra: Record<string, string> = {}) {
  const config = await discover(server, client);
  return oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    ...extra,
  });
}

/** Where a request lands: the client's callback (with its query) or one of our pages (with its HTML). */
async function land(session: BrowserSession, url: URL) {
  const { res, url: at } = await session.follow(url);
  return { at, html: at.origin === server.issuer ? await res.text() : '' };
}

async function signedInSession(): Promise<{ session: BrowserSession; client: ClientMetadata }> {
  const client = await createClient(server, { name: 'App A' });
  const session = new BrowserSession(server.issuer);
  await authorize(server, await discover(server, client), session);
  return { session, client };
}

describe('single sign-on', () => {
  it('signs a second app in without a password, asking only for consent', async () => {
    const { session } = await signedInSession();
    const appB = await createClient(server, { name: 'App B' });
    const { html } = await land(session, await authorizeUrl(appB));
    expect(html).toContain('Allow access?');
    expect(html).not.toContain('name="password"');
  });

  it('skips the consent page for a first-party app', async () => {
    const { session } = await signedInSession();
    const internal = await createClient(server, { name: 'Intranet', firstParty: true });
    const { at } = await land(session, await authorizeUrl(internal, { scope: 'openid profile email' }));
    expect(at.origin + at.pathname).toBe(REDIRECT_URI);
    expect(at.searchParams.get('code')).toBeTruthy();
  });

  it('skips consent next time only when the person asked to remember it', async () => {
    const session = new BrowserSession(server.issuer);
    const remembered = await createClient(server, { name: 'Remembered' });
    await authorize(server, await discover(server, remembered), session); // posts remember=1
    expect((await land(session, await authorizeUrl(remembered))).at.searchParams.get('code')).toBeTruthy();

    const once = await createClient(server, { name: 'Ask again' });
    const { html } = await land(session, await authorizeUrl(once));
    const res = await session.postForm(formAction(html), { csrf: csrfField(html) }); // box unticked
    expect((await session.follow(res.headers.get('location')!)).url.searchParams.get('code')).toBeTruthy();
    expect((await land(session, await authorizeUrl(once))).html).toContain('Allow access?');
  });
});

describe('prompt and max_age (OpenID Connect Core §3.1.2.1)', () => {
  it('prompt=none without a session returns login_required', async () => {
    const client = await createClient(server);
    const { at } = await land(new BrowserSession(server.issuer), await authorizeUrl(client, { prompt: 'none', state: 's1' }));
    expect(at.searchParams.get('error')).toBe('login_required');
    expect(at.searchParams.get('state')).toBe('s1');
  });

  it('prompt=none with a session but no consent returns consent_required', async () => {
    const { session } = await signedInSession();
    const other = await createClient(server, { name: 'Not yet allowed' });
    const { at } = await land(session, await authorizeUrl(other, { prompt: 'none' }));
    expect(at.searchParams.get('error')).toBe('consent_required');
  });

  it('prompt=none with a session and remembered consent returns a code', async () => {
    const { session, client } = await signedInSession();
    const { at } = await land(session, await authorizeUrl(client, { prompt: 'none' }));
    expect(at.searchParams.get('code')).toBeTruthy();
  });

  it('prompt=login asks for the password again despite the session', async () => {
    const { session, client } = await signedInSession();
    expect((await land(session, await authorizeUrl(client, { prompt: 'login' }))).html).toContain('name="password"');
  });

  it('max_age=0 asks for the password again, and the ID token carries auth_time', async () => {
    const { session, client } = await signedInSession();
    expect((await land(session, await authorizeUrl(client, { max_age: '0' }))).html).toContain('name="password"');
    const config = await discover(server, client);
    const tokens = await exchange(config, await authorize(server, config, session, { extra: { max_age: '0' } }));
    expect(typeof tokens.claims()!.auth_time).toBe('number');
  });

  it('refuses acr_values it cannot satisfy only when essential, and otherwise signs in', async () => {
    const { session, client } = await signedInSession();
    const { at } = await land(session, await authorizeUrl(client, { acr_values: 'urn:example:unknown' }));
    expect(at.origin + at.pathname).toBe(REDIRECT_URI);
    expect(at.searchParams.get('code')).toBeTruthy();
  });
});

describe('brute-force protection', () => {
  it('locks an account name out after repeated failures, even for the right password, and says for how long', async () => {
    await createUser(server, 'target');
    const client = await createClient(server);
    const session = new BrowserSession(server.issuer);
    const post = async (password: string) => {
      const { html } = await land(session, await authorizeUrl(client));
      return session.postForm(formAction(html), { csrf: csrfField(html), username: 'target', password });
    };
    expect((await post('wrong 1')).status).toBe(401);
    expect((await post('wrong 2')).status).toBe(401);
    const locked = await post('wrong 3');
    expect(locked.status).toBe(429);
    expect(await locked.text()).toMatch(/Too many attempts\. Try again in \d+ minutes?\./);
    const right = await post('correct horse battery');
    expect(right.status).toBe(429);
    expect(right.headers.get('location')).toBeNull();
    const types = (await listAuditEvents(server.runtime.db, { limit: 200 })).map((e) => e.type);
    expect(types).toContain('login.locked');
    expect(types).toContain('login.failure');
  });

  it('locks an unknown account name the same way (no enumeration through lock-outs)', async () => {
    const client = await createClient(server);
    const session = new BrowserSession(server.issuer);
    let last = 0;
    for (let i = 0; i < 3; i++) {
      const { html } = await land(session, await authorizeUrl(client));
      last = (await session.postForm(formAction(html), { csrf: csrfField(html), username: 'ghost-user', password: `x${i}` })).status;
    }
    expect(last).toBe(429);
  });
});

describe('self-registration', () => {
  it('creates an account with the password rules and signs it in', async () => {
    const client = await createClient(server);
    const session = new BrowserSession(server.issuer);
    const { html } = await land(session, await authorizeUrl(client));
    const registerHref = html.match(/href="([^"]+\/register)"/)![1]!;
    const page = await (await session.request(registerHref)).text();
    const weak = await session.postForm(formAction(page), { csrf: csrfField(page), username: 'newbie', password: 'short' });
    expect(weak.status).toBe(422);
    expect(await weak.text()).toContain('at least 8 characters');
    const ok = await session.postForm(formAction(page), { csrf: csrfField(page), username: 'newbie', password: 'long enough password', email: 'n@example.test' });
    expect(ok.status).toBe(303);
    const { html: consent } = await land(session, new URL(ok.headers.get('location')!, server.issuer));
    expect(consent).toContain('Allow access?');
  });
});

describe('account page', () => {
  it('lists the apps a person allowed and revokes one with all its tokens', async () => {
    const client = await createClient(server, { name: 'Revocable App' });
    const config = await discover(server, client);
    const session = new BrowserSession(server.issuer);
    const tokens = await exchange(config, await authorize(server, config, session));
    const page = await (await session.request('/account')).text();
    expect(page).toContain('Revocable App');
    const forms = [...page.matchAll(/<form[^>]*action="([^"]+)"[\s\S]*?name="client_id" value="([^"]+)"/g)];
    const form = forms.find((f) => f[2] === client.client_id)!;
    const res = await session.postForm(form[1]!, { csrf: csrfField(page), client_id: client.client_id });
    expect(res.status).toBe(303);
    expect(await (await session.request('/account')).text()).not.toContain('Revocable App');
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('offers a sign-in link to someone who is not signed in', async () => {
    const res = await new BrowserSession(server.issuer).request('/account');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('href="/account/sign-in"');
  });
});
