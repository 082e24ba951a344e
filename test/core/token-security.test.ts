import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession } from '../helpers/browser-session.ts';
import { authorize, basic, createClient, createUser, discover, exchange, postForm, REDIRECT_URI } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { bearerHash } from '../../src/store/bearer-hash.ts';

let server: TestServer;
let web: ClientMetadata;
let config: oidc.Configuration;

beforeAll(async () => {
  // Strict detection here: every replay of a rotated refresh token counts (the grace window for parallel
  // refreshes by one client is tested on a server of its own below).
  server = await startTestServer({ env: { REFRESH_REUSE_GRACE: '0' } });
  await createUser(server, 'alice');
  web = await createClient(server, { name: 'Web App' });
  config = await discover(server, web);
});
afterAll(() => server?.stop());

async function signedIn() {
  const result = await authorize(server, config, new BrowserSession(server.issuer));
  return { result, tokens: await exchange(config, result) };
}

async function introspect(token: string): Promise<{ active: boolean; [k: string]: unknown }> {
  return (await oidc.tokenIntrospection(config, token)) as { active: boolean };
}

describe('refresh token reuse detection (RFC 9700 §4.14.2)', () => {
  it('refuses a rotated refresh token and revokes every token of its grant', async () => {
    const { tokens } = await signedIn();
    const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The legitimate holder's newer tokens die too: the grant is compromised.
    await expect(oidc.refreshTokenGrant(config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await introspect(rotated.access_token)).active).toBe(false);
    expect((await introspect(rotated.refresh_token!)).active).toBe(false);
  });

  it('lets exactly one of twenty parallel redemptions of one refresh token succeed, with no 5xx', async () => {
    const { tokens } = await signedIn();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        postForm(`${server.issuer}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, basic(web)),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s >= 500)).toHaveLength(0);
    for (const res of responses.filter((r) => r.status !== 200)) {
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('invalid_grant');
    }
  });
});

describe('parallel refreshes by one client (REFRESH_REUSE_GRACE)', () => {
  let graceful: TestServer;
  let app: ClientMetadata;
  let appConfig: oidc.Configuration;
  beforeAll(async () => {
    graceful = await startTestServer({ env: { REFRESH_REUSE_GRACE: '10' } });
    await createUser(graceful, 'alice');
    app = await createClient(graceful, { name: 'Apache app' });
    appConfig = await discover(graceful, app);
  });
  afterAll(() => graceful?.stop());

  const refreshAt = (refreshToken: string, client = app) =>
    postForm(`${graceful.issuer}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, basic(client));
  /** Moves the token's first use `seconds` into the past, as if the window had gone by. */
  const usedAgo = (refreshToken: string, seconds: number) =>
    graceful.runtime.db('tokens').where('id_hash', bearerHash(refreshToken)).update({ consumed_at: graceful.runtime.db.raw(`now() - make_interval(secs => ${seconds})`) });

  it('answers every one of parallel refreshes with one token within the window, all in one grant', async () => {
    const tokens = await exchange(appConfig, await authorize(graceful, appConfig, new BrowserSession(graceful.issuer)));
    const responses = await Promise.all(Array.from({ length: 4 }, () => refreshAt(tokens.refresh_token!)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const successors = await Promise.all(responses.map(async (r) => (await r.json()) as { access_token: string; refresh_token: string }));
    const grants = new Set(await Promise.all(successors.map(async (s) => (await graceful.runtime.db('tokens').where('id_hash', bearerHash(s.refresh_token)).first('grant_id')).grant_id)));
    expect(grants.size).toBe(1);
    // Each successor works on its own, and nothing was revoked.
    for (const s of successors) expect((await refreshAt(s.refresh_token)).status).toBe(200);
  });

  it('still revokes the grant on a replay after the window', async () => {
    const tokens = await exchange(appConfig, await authorize(graceful, appConfig, new BrowserSession(graceful.issuer)));
    const rotated = (await (await refreshAt(tokens.refresh_token!)).json()) as { refresh_token: string; access_token: string };
    await usedAgo(tokens.refresh_token!, 11);
    const replay = await refreshAt(tokens.refresh_token!);
    expect(replay.status).toBe(400);
    expect((await replay.json()).error).toBe('invalid_grant');
    expect((await refreshAt(rotated.refresh_token)).status).toBe(400);
  });

  it('gives the window to the token\'s own client only', async () => {
    const other = await createClient(graceful, { name: 'Other app' });
    const tokens = await exchange(appConfig, await authorize(graceful, appConfig, new BrowserSession(graceful.issuer)));
    expect((await refreshAt(tokens.refresh_token!)).status).toBe(200);
    const stolen = await refreshAt(tokens.refresh_token!, other);
    expect(stolen.status).toBe(400);
    expect((await stolen.json()).error).toBe('invalid_grant');
  });
});

describe('a consumed refresh token stays spent', () => {
  // A rotation consumes the old token and stores its successor in one statement (store/engine-records.ts
  // rotate), so no crash can leave a token consumed without a successor; there is no rule that reopens one.
  const markConsumed = (refreshToken: string, secondsAgo: number) =>
    server.runtime.db('tokens').where('id_hash', bearerHash(refreshToken)).update({ consumed_at: server.runtime.db.raw(`now() - interval '${secondsAgo} seconds'`) });

  it('refuses a token marked consumed even when no successor was stored, and revokes its grant', async () => {
    const { tokens } = await signedIn();
    await markConsumed(tokens.refresh_token!, 5);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await introspect(tokens.access_token)).active).toBe(false);
  });

  it('refuses a token that was rotated (a successor exists) and revokes the successor with the grant', async () => {
    const { tokens } = await signedIn();
    const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    await markConsumed(tokens.refresh_token!, 5);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await introspect(rotated.refresh_token!)).active).toBe(false);
  });
});

describe('authorization code replay (RFC 6749 §4.1.2)', () => {
  it('refuses a second redemption and revokes the tokens issued from the first', async () => {
    const { result, tokens } = await signedIn();
    await expect(exchange(config, result)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await introspect(tokens.access_token)).active).toBe(false);
    expect((await introspect(tokens.refresh_token!)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('lets exactly one of twenty parallel redemptions of one code succeed, with no 5xx', async () => {
    const result = await authorize(server, config, new BrowserSession(server.issuer));
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        postForm(
          `${server.issuer}/token`,
          { grant_type: 'authorization_code', code: result.callback.searchParams.get('code')!, redirect_uri: REDIRECT_URI, code_verifier: result.codeVerifier },
          basic(web),
        ),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s >= 500)).toHaveLength(0);
    expect(statuses.filter((s) => s === 400)).toHaveLength(19);
  });
});

describe('PKCE (RFC 9700 §2.1.1)', () => {
  it('refuses a wrong code_verifier even for a confidential client', async () => {
    const result = await authorize(server, config, new BrowserSession(server.issuer));
    await expect(exchange(config, { ...result, codeVerifier: oidc.randomPKCECodeVerifier() })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('requires a code_challenge from a confidential client too', async () => {
    const session = new BrowserSession(server.issuer);
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({ client_id: web.client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, state: 'xyz' }).toString();
    const res = await session.request(url);
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('state')).toBe('xyz');
  });

  it('refuses the plain method', async () => {
    const session = new BrowserSession(server.issuer);
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: web.client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI,
      code_challenge: 'a'.repeat(43), code_challenge_method: 'plain', state: 's',
    }).toString();
    const res = await session.request(url);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_request');
  });
});

describe('introspection and revocation of stored tokens', () => {
  it('introspects an opaque access token and a refresh token as active with their details', async () => {
    const { tokens } = await signedIn();
    const at = await introspect(tokens.access_token);
    expect(at).toMatchObject({ active: true, client_id: web.client_id, sub: tokens.claims()!.sub, token_type: 'Bearer' });
    const rt = await introspect(tokens.refresh_token!);
    expect(rt).toMatchObject({ active: true, client_id: web.client_id, sub: tokens.claims()!.sub });
  });

  it('revoking a refresh token ends it and the access tokens of its grant', async () => {
    const { tokens } = await signedIn();
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    expect((await introspect(tokens.refresh_token!)).active).toBe(false);
    expect((await introspect(tokens.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).rejects.toBeTruthy();
  });

  it('does not let another client introspect or revoke tokens it was not issued', async () => {
    const { tokens } = await signedIn();
    const other = await createClient(server, { name: 'Other' });
    const otherConfig = await discover(server, other);
    expect(((await oidc.tokenIntrospection(otherConfig, tokens.access_token)) as { active: boolean }).active).toBe(false);
    await oidc.tokenRevocation(otherConfig, tokens.refresh_token!);
    expect((await introspect(tokens.refresh_token!)).active).toBe(true);
  });
});

describe('RP-initiated logout', () => {
  it('shows a confirmation page for a registered post_logout_redirect_uri and then redirects there', async () => {
    const app = await createClient(server, { name: 'Logout App', postLogoutRedirectUris: ['http://127.0.0.1:9/signed-out'] });
    const appConfig = await discover(server, app);
    const session = new BrowserSession(server.issuer);
    const tokens = await exchange(appConfig, await authorize(server, appConfig, session));
    const url = oidc.buildEndSessionUrl(appConfig, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/signed-out', state: 'bye' });
    const page = await session.request(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    const action = html.match(/action="([^"]+)"/)![1]!;
    const xsrf = html.match(/name="xsrf" value="([^"]+)"/)![1]!;
    const res = await session.postForm(action, { xsrf, logout: 'yes' });
    expect(res.status).toBeGreaterThanOrEqual(300);
    const landed = new URL(res.headers.get('location')!, server.issuer);
    expect(landed.origin + landed.pathname).toBe('http://127.0.0.1:9/signed-out');
    expect(landed.searchParams.get('state')).toBe('bye');
  });

  it('refuses an unregistered post_logout_redirect_uri without redirecting to it', async () => {
    const session = new BrowserSession(server.issuer);
    const tokens = await exchange(config, await authorize(server, config, session));
    const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/steal' });
    const res = await session.request(url);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('post_logout_redirect_uri');
  });
});
