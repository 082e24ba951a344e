// Apache httpd with mod_auth_openidc (Debian's packages, unmodified) as a relying party of a real Tessera:
// the module protects /app/, which Apache reverse-proxies to a tiny Node app that echoes the identity
// headers the module adds (OIDC_CLAIM_*, OIDC_access_token). Chromium signs in on Tessera's own pages.
//
// Covered: sign-in (PKCE S256, client_secret_basic, discovery); the module refreshing the access token when
// it is due (OIDCRefreshAccessTokenBeforeExpiry); RP-initiated logout through the module's logout URL to
// Tessera's end_session; back-channel logout (Tessera ends the person's sessions, the module drops its own);
// and several page loads at once when the access token is due, none of which may sign the person out.
//
// Signals, not sleeps: the page loads themselves (the module refreshes before it proxies), the engine's
// events, the back-channel delivery count that user.end-sessions returns. The one wait is for the access
// token to come due (ACCESS_TOKEN_TTL − the refresh window: 2 s), computed from the expiry the module holds.
// The parallel page loads are made to overlap at the token endpoint by a gate on the module's outgoing
// proxy (startTokenGate) rather than by timing luck.
//
// Apache runs from helpers/apache.ts (generated configuration, own temporary ServerRoot, loopback port).
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { startTestServer, freePort, type TestServer } from '../helpers/server.ts';
import { createClient, createUser } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { PASSWORD, allowConsent, fillLogin, launchBrowser, onInteractionPage, submit } from '../e2e/helpers.ts';
import { startApache, type RunningApache } from './helpers/apache.ts';

/** Tessera's access token lifetime, and the module's refresh window on /app/soon: due 2 s after issue. */
const ACCESS_TOKEN_TTL = 30;
const REFRESH_WINDOW = 28;
const PARALLEL_LOADS = 6;
const CRYPTO_PASSPHRASE = 'interop-test-passphrase-0123456789abcdef';

/** What the proxied app saw on one request: the identity headers mod_auth_openidc set. */
interface Echo {
  path: string;
  remoteUser: string | null;
  claims: Record<string, string>;
  accessToken: string | null;
  accessTokenExpires: string | null;
}

/** The tiny application behind Apache: echoes OIDC_* headers on /app/…, and a signed-out landing page. */
async function startEchoApp(): Promise<{ url: string; signedOut: URL[]; close(): Promise<void> }> {
  const signedOut: URL[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app.invalid');
    if (url.pathname === '/signed-out') {
      signedOut.push(url);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Signed out</title><h1>signed out of the app</h1>');
      return;
    }
    const echo = echoOf(url.pathname, req.headers);
    const json = JSON.stringify(echo).replace(/</g, '\\u003c');
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(`<!doctype html><title>App</title><h1>hello ${echo.claims.preferred_username ?? '?'}</h1><pre id="echo">${json}</pre>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    signedOut,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The module's outgoing HTTP proxy (OIDCOutgoingProxy, test only): passes its requests to Tessera on
 * unchanged, except that once armed it holds token requests until `count` have arrived (or `maxMs` has
 * passed since the first) and then lets them all on at once. A slow token endpoint, so page loads that race
 * each other are sure to overlap there, as they would on a loaded server, not by the luck of the scheduler.
 */
async function startTokenGate(issuer: string) {
  interface Gate {
    count: number;
    maxMs: number;
    arrived: number;
    waiting: Array<() => void>;
    timer?: NodeJS.Timeout;
  }
  let armed: Gate | undefined;
  const release = () => {
    if (!armed) return;
    clearTimeout(armed.timer);
    for (const go of armed.waiting) go();
    armed = undefined;
  };
  const server: Server = createServer(async (req, res) => {
    // A forward proxy's request target is the absolute URL (RFC 9112 §3.2.2).
    const upstream = new URL(req.url ?? '/', issuer);
    if (upstream.origin !== issuer) {
      res.writeHead(403).end();
      return;
    }
    if (armed && req.method === 'POST' && upstream.pathname === '/token') {
      const gate = armed;
      gate.arrived++;
      const held = new Promise<void>((resolve) => gate.waiting.push(resolve));
      if (gate.arrived === 1) gate.timer = setTimeout(release, gate.maxMs);
      if (gate.arrived >= gate.count) release();
      await held;
    }
    const forward = request(upstream, { method: req.method, headers: { ...req.headers, host: upstream.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    /** Holds the next token requests until `count` have arrived or `maxMs` passed; returns how many came. */
    arm(count: number, maxMs: number): () => number {
      const gate: Gate = { count, maxMs, arrived: 0, waiting: [] };
      armed = gate;
      return () => gate.arrived;
    },
    close: () =>
      new Promise<void>((resolve) => {
        release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function echoOf(path: string, headers: IncomingHttpHeaders): Echo {
  const one = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : null);
  const claims: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('oidc_claim_') && typeof value === 'string') claims[name.slice('oidc_claim_'.length)] = value;
  }
  return { path, remoteUser: one('x-remote-user'), claims, accessToken: one('oidc_access_token'), accessTokenExpires: one('oidc_access_token_expires') };
}

/**
 * The Apache configuration after the generated server set-up (helpers/apache.ts): mod_auth_openidc on
 * /app/, the redirect URI inside it (never proxied), the rest of /app/ proxied to the app.
 */
function modAuthOpenidcConfig(o: { issuer: string; client: ClientMetadata; origin: string; appUrl: string; outgoingProxy?: string }): string {
  return `${o.outgoingProxy ? `# Test only: the module's calls to Tessera go through the test's gate (startTokenGate).\nOIDCOutgoingProxy ${o.outgoingProxy}\n` : ''}
OIDCProviderMetadataURL ${o.issuer}/.well-known/openid-configuration
OIDCClientID ${o.client.client_id}
OIDCClientSecret ${o.client.client_secret}
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCRedirectURI ${o.origin}/app/redirect_uri
OIDCCryptoPassphrase ${CRYPTO_PASSPHRASE}
OIDCScope "openid email profile offline_access"
OIDCPKCEMethod S256
OIDCRemoteUserClaim preferred_username
OIDCPassClaimsAs headers
OIDCAuthNHeader X-Remote-User
OIDCInfoHook iat access_token access_token_expires id_token userinfo refresh_token session
OIDCDefaultLoggedOutURL ${o.origin}/signed-out

ProxyPass        /app/redirect_uri !
ProxyPass        /app/       ${o.appUrl}/app/
ProxyPassReverse /app/       ${o.appUrl}/app/
ProxyPass        /signed-out ${o.appUrl}/signed-out

<Location /app/>
  AuthType openid-connect
  Require valid-user
</Location>
<Location /app/soon/>
  OIDCRefreshAccessTokenBeforeExpiry ${REFRESH_WINDOW} logout_on_error
</Location>
<Location /signed-out>
  Require all granted
</Location>
`;
}

/** What the engine did at the token endpoint and with grants, by client: the test's signals. */
interface EngineRecord {
  grants: Array<{ grantType: string; ok: boolean; error?: string; detail?: string }>;
  revokedGrants: string[];
  endSessions: number;
}

let tessera: TestServer;
let apache: RunningApache;
let app: Awaited<ReturnType<typeof startEchoApp>>;
let gate: Awaited<ReturnType<typeof startTokenGate>>;
let browser: Browser;
let client: ClientMetadata;
let origin: string;
const engine: EngineRecord = { grants: [], revokedGrants: [], endSessions: 0 };

beforeAll(async () => {
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  [tessera, app, browser] = await Promise.all([startTestServer({ env: { ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL) } }), startEchoApp(), launchBrowser()]);
  client = await createClient(tessera, {
    name: 'Apache mod_auth_openidc',
    redirectUris: [`${origin}/app/redirect_uri`],
    postLogoutRedirectUris: [`${origin}/signed-out`],
    // mod_auth_openidc's back-channel logout endpoint is its redirect URI with ?logout=backchannel.
    backchannelLogoutUri: `${origin}/app/redirect_uri?logout=backchannel`,
    authMethod: 'client_secret_basic',
  });
  const mine = (ctx: KoaContextWithOIDC) => ctx.oidc?.client?.clientId === client.client_id;
  tessera.provider.on('grant.success', (ctx) => {
    if (mine(ctx)) engine.grants.push({ grantType: String(ctx.oidc.params?.grant_type), ok: true });
  });
  tessera.provider.on('grant.error', (ctx, error: Error & { error?: string; error_description?: string; error_detail?: string }) => {
    if (mine(ctx)) engine.grants.push({ grantType: String(ctx.oidc.params?.grant_type), ok: false, error: error.error ?? error.message, detail: error.error_description ?? error.error_detail });
  });
  tessera.provider.on('grant.revoked', (ctx, grantId: string) => {
    if (mine(ctx)) engine.revokedGrants.push(grantId);
  });
  tessera.provider.on('end_session.success', (ctx) => {
    if (mine(ctx)) engine.endSessions++;
  });
  gate = await startTokenGate(tessera.issuer);
  apache = await startApache({
    port,
    modules: ['authn_core', 'authz_user', 'auth_openidc', 'proxy', 'proxy_http', 'headers'],
    logLevel: 'warn auth_openidc:info',
    config: modAuthOpenidcConfig({ issuer: tessera.issuer, client, origin, appUrl: app.url, outgoingProxy: gate.url.replace('http://', '') }),
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await apache?.stop();
  await app?.close();
  await gate?.close();
  await tessera?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    console.log(`--- Apache error log ---\n${apache?.log()}\n--- engine (this client) ---\n${JSON.stringify(engine, null, 2)}`);
  });
});

/** A page in a fresh browser context: its own cookie jar, so no test inherits another's sessions. */
async function freshPage(): Promise<Page> {
  return (await browser.newContext()).newPage();
}

/** The echo the app put on the current page. */
async function echoOn(page: Page): Promise<Echo> {
  const text = await page.locator('#echo').textContent({ timeout: 2000 }).catch(() => null);
  if (text === null) {
    const body = (await page.locator('body').textContent())?.replace(/\s+/g, ' ').trim().slice(0, 500);
    expect.fail(`expected the app's echo at ${page.url()}, got: ${body}`);
  }
  return JSON.parse(text) as Echo;
}

/** Opens `path` at Apache, signs in at Tessera (consent when asked) and returns what the app then saw. */
async function signIn(page: Page, username: string, path = '/app/') {
  await page.goto(`${origin}${path}`);
  expect(onInteractionPage(page, tessera), `sent to Tessera's sign-in page, at ${page.url()}`).toBe(true);
  await expect(page.locator('#password').count()).resolves.toBe(1);
  await fillLogin(page, username, PASSWORD);
  let sawConsent = false;
  if (onInteractionPage(page, tessera) && (await page.getByRole('heading', { name: 'Allow access?', exact: true }).count()) > 0) {
    sawConsent = true;
    await expect(page.locator('main strong').first().textContent()).resolves.toBe('Apache mod_auth_openidc');
    await allowConsent(page);
  }
  expect(page.url(), 'back at the page first asked for').toBe(`${origin}${path}`);
  return { echo: await echoOn(page), sawConsent };
}

/** The module's view of the session (its info hook), read with the browser's cookies. */
interface Info {
  access_token: string;
  /** Unix time (seconds); the module reports it as a string. */
  access_token_expires: number;
  refresh_token?: string;
  id_token: Record<string, unknown>;
  userinfo?: Record<string, unknown>;
}
async function moduleInfo(page: Page): Promise<Info> {
  const res = await page.request.get(`${origin}/app/redirect_uri?info=json`, { maxRedirects: 0 });
  expect(res.status(), await res.text()).toBe(200);
  const info = (await res.json()) as Info;
  return { ...info, access_token_expires: Number(info.access_token_expires) };
}

/** Waits until the module considers the access token due for refresh on /app/soon/ (and a little more). */
async function untilDue(info: Info): Promise<void> {
  const dueAt = (info.access_token_expires - REFRESH_WINDOW) * 1000 + 50;
  const wait = dueAt - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** Tessera's userinfo for an access token: 200 with the person's claims while the token is good. */
async function userinfo(accessToken: string) {
  const res = await fetch(`${tessera.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: res.status, body: res.status === 200 ? ((await res.json()) as Record<string, unknown>) : await res.text() };
}

function refreshGrants() {
  return engine.grants.filter((g) => g.grantType === 'refresh_token');
}

describe('Apache mod_auth_openidc as a relying party of Tessera', { timeout: 60_000 }, () => {
  it('signs in through Tessera in Chromium (PKCE S256, client_secret_basic) and the proxied app sees the claims', async () => {
    const user = await createUser(tessera, 'alice');
    const page = await freshPage();
    const started = engine.grants.length;
    const { echo, sawConsent } = await signIn(page, 'alice');
    expect(sawConsent).toBe(true);

    expect(echo.path).toBe('/app/');
    expect(echo.remoteUser).toBe('alice');
    expect(echo.claims).toMatchObject({
      sub: String(user.id),
      iss: tessera.issuer,
      aud: client.client_id,
      preferred_username: 'alice',
      name: 'alice Example',
      email: 'alice@example.test',
    });
    expect(echo.claims.sid).toBeTruthy();
    expect(echo.accessToken).toBeTruthy();
    expect(engine.grants.slice(started)).toEqual([{ grantType: 'authorization_code', ok: true }]);

    // The module's session holds a refresh token and a token Tessera's userinfo accepts.
    const info = await moduleInfo(page);
    expect(info.access_token).toBe(echo.accessToken);
    expect(info.refresh_token).toBeTruthy();
    expect(info.id_token).toMatchObject({ sub: String(user.id), preferred_username: 'alice' });
    await expect(userinfo(info.access_token)).resolves.toMatchObject({ status: 200, body: { sub: String(user.id), email: 'alice@example.test' } });

    // Signed in: the next page load goes straight through without Tessera.
    await page.goto(`${origin}/app/other`);
    expect((await echoOn(page)).claims.preferred_username).toBe('alice');
  });

  it('refreshes the access token through the module once it is due, with the rotated refresh token', async () => {
    await createUser(tessera, 'bianca');
    const page = await freshPage();
    await signIn(page, 'bianca');
    const before = await moduleInfo(page);
    const grantsBefore = refreshGrants().length;

    await untilDue(before);
    const started = Date.now();
    await page.goto(`${origin}/app/soon/page`);
    const refreshMs = Date.now() - started;
    expect(page.url(), 'still signed in after the refresh').toBe(`${origin}/app/soon/page`);
    const echo = await echoOn(page);
    expect(echo.claims.preferred_username).toBe('bianca');

    expect(refreshGrants().slice(grantsBefore), 'refresh_token grants Tessera answered').toEqual([{ grantType: 'refresh_token', ok: true }]);
    const after = await moduleInfo(page);
    expect(echo.accessToken, 'the app got the new access token').toBe(after.access_token);
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.access_token_expires).toBeGreaterThan(before.access_token_expires);
    expect(after.refresh_token, 'the refresh token was rotated').not.toBe(before.refresh_token);
    await expect(userinfo(after.access_token)).resolves.toMatchObject({ status: 200, body: { preferred_username: 'bianca' } });
    console.log(`refresh through the module: page load with refresh ${refreshMs} ms`);
  });

  it('signs out through the module’s logout URL, which ends the session at Tessera’s end_session', async () => {
    const user = await createUser(tessera, 'carol');
    const page = await freshPage();
    await signIn(page, 'carol');
    const endSessionsBefore = engine.endSessions;
    const signedOutBefore = app.signedOut.length;

    const returnTo = `${origin}/signed-out`;
    await page.goto(`${origin}/app/redirect_uri?logout=${encodeURIComponent(returnTo)}`);
    // Tessera's confirmation page (the module sent id_token_hint and post_logout_redirect_uri).
    expect(new URL(page.url()).origin, `at ${page.url()}`).toBe(tessera.issuer);
    await expect(page.getByRole('heading', { name: 'Sign out?', exact: true }).count()).resolves.toBe(1);
    await submit(page, page.getByRole('button', { name: 'Yes, sign me out' }));

    expect(page.url().split('?')[0], 'back at the post-logout URI').toBe(returnTo);
    await expect(page.locator('h1').textContent()).resolves.toBe('signed out of the app');
    expect(app.signedOut.length).toBe(signedOutBefore + 1);
    expect(engine.endSessions).toBe(endSessionsBefore + 1);
    const audit = await runOperation(tessera.operations, 'audit.list', { type: 'logout', actor: String(user.id) });
    expect(audit.events.map((e) => [e.type, e.client_id])).toEqual([['logout', client.client_id]]);

    // Both sessions are gone: the module sends the browser to Tessera, which asks for the password.
    await page.goto(`${origin}/app/`);
    expect(onInteractionPage(page, tessera), `at ${page.url()}`).toBe(true);
    await expect(page.locator('#password').count()).resolves.toBe(1);
  });

  it('drops the module’s session when Tessera ends the person’s sessions (back-channel logout)', async () => {
    await createUser(tessera, 'dave');
    const page = await freshPage();
    await signIn(page, 'dave');
    await page.goto(`${origin}/app/before`);
    expect((await echoOn(page)).claims.preferred_username).toBe('dave');

    // Delivered before the operation returns: the module has answered Tessera's POST by then.
    const logBefore = apache.log().length;
    const ended = await runOperation(tessera.operations, 'user.end-sessions', { user: 'dave' });
    expect(ended.sessions_ended).toBe(1);
    expect(ended.logout_notifications).toBe(1);
    // The module found the session the logout token's sid names (it logs a warning when it does not).
    expect(apache.log().slice(logBefore)).not.toMatch(/could not \(or no longer\) find a session|logout.*(error|failed)/i);

    await page.goto(`${origin}/app/after`);
    expect(onInteractionPage(page, tessera), `signed out at Apache: sent to Tessera, at ${page.url()}`).toBe(true);
    await expect(page.locator('#password').count()).resolves.toBe(1);
  });

  it(`keeps the person signed in when ${PARALLEL_LOADS} pages load at once while the access token is due`, async () => {
    await createUser(tessera, 'erin');
    const page = await freshPage();
    await signIn(page, 'erin');
    const before = await moduleInfo(page);
    const grantsBefore = refreshGrants().length;
    const revokedBefore = engine.revokedGrants.length;

    const pages = await Promise.all(Array.from({ length: PARALLEL_LOADS }, () => page.context().newPage()));
    await untilDue(before);
    const overlapped = gate.arm(PARALLEL_LOADS, 1000);
    const started = Date.now();
    await Promise.all(pages.map((p, i) => p.goto(`${origin}/app/soon/tab-${i}`)));
    const parallelMs = Date.now() - started;
    const outcomes = await Promise.all(
      pages.map(async (p, i) => {
        const at = p.url();
        const echo = at === `${origin}/app/soon/tab-${i}` ? await echoOn(p) : undefined;
        return { tab: i, at, user: echo?.claims.preferred_username ?? null };
      }),
    );
    const refreshes = refreshGrants().slice(grantsBefore);
    console.log(`parallel page loads: ${parallelMs} ms; ${overlapped()} token requests overlapped; refresh grants at Tessera: ${JSON.stringify(refreshes)}`);

    // Every tab shows the app, signed in as erin; Tessera revoked nothing.
    expect(outcomes.filter((o) => o.user !== 'erin'), 'tabs not showing the signed-in app').toEqual([]);
    expect(engine.revokedGrants.slice(revokedBefore), 'grants Tessera revoked').toEqual([]);
    expect(refreshes.filter((g) => !g.ok), 'refresh_token grants Tessera refused').toEqual([]);

    // The race was run: the token requests reached Tessera together (the gate held them until they had).
    expect(overlapped(), 'token requests held together at the gate').toBeGreaterThanOrEqual(2);

    // And the session goes on: the module's token works at Tessera, and the next refresh (the module's
    // refresh endpoint: <redirect_uri>?refresh=<return to>&access_token=<current token>) succeeds too.
    const now = await moduleInfo(page);
    await expect(userinfo(now.access_token)).resolves.toMatchObject({ status: 200, body: { preferred_username: 'erin' } });
    const returnTo = `${origin}/app/after-refresh`;
    await page.goto(`${origin}/app/redirect_uri?refresh=${encodeURIComponent(returnTo)}&access_token=${encodeURIComponent(now.access_token)}`);
    expect(page.url(), 'the module refreshed and sent the browser back').toBe(returnTo);
    const echo = await echoOn(page);
    expect(echo.claims.preferred_username).toBe('erin');
    expect(echo.accessToken).not.toBe(now.access_token);
    await expect(userinfo(echo.accessToken!)).resolves.toMatchObject({ status: 200 });
  });
});
