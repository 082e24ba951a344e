// Real browser, real server: two apps share one sign-in, and one sign-out ends it for both (back-channel).
// Headless Chromium is slower than the HTTP tests, hence the longer timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser } from '../helpers/oauth.ts';
import {
  BACKCHANNEL_EVENT,
  PASSWORD,
  allowConsent,
  authorizationRequest,
  fillLogin,
  launchBrowser,
  onInteractionPage,
  redeem,
  registerApp,
  screenshotPath,
  startRelyingParties,
  submit,
  verifyJwt,
  type RegisteredApp,
  type RelyingParties,
} from './helpers.ts';

let server: TestServer;
let rps: RelyingParties;
let browser: Browser;
let appA: RegisteredApp;
let appB: RegisteredApp;

beforeAll(async () => {
  [server, rps, browser] = await Promise.all([startTestServer(), startRelyingParties(), launchBrowser()]);
  appA = await registerApp(server, rps, 'a', 'Tessera E2E App A');
  appB = await registerApp(server, rps, 'b', 'Tessera E2E App B');
});
afterAll(async () => {
  await browser?.close();
  await rps?.close();
  await server?.stop();
});

async function freshPage(): Promise<Page> {
  // A fresh context per scenario: its own cookie jar, so no scenario inherits another's session.
  return (await browser.newContext()).newPage();
}

/** Opens `app`'s authorize URL in the page, signs in if asked, allows if asked, and redeems the code. */
async function signInTo(page: Page, app: RegisteredApp, username: string) {
  const request = await authorizationRequest(app);
  await page.goto(request.url.href);
  const sawPasswordPrompt = onInteractionPage(page, server) && (await page.locator('#password').count()) > 0;
  if (sawPasswordPrompt) await fillLogin(page, username, PASSWORD);
  const sawConsent = onInteractionPage(page, server) && (await page.getByRole('heading', { name: 'Allow access?', exact: true }).count()) > 0;
  if (sawConsent) await allowConsent(page);
  if (!page.url().startsWith(`${app.redirectUri}?`)) {
    const text = (await page.locator('body').textContent())?.replace(/\s+/g, ' ').trim();
    expect.fail(`expected ${app.key}'s callback, at ${page.url()} (password prompt: ${sawPasswordPrompt}, consent: ${sawConsent}): ${text}`);
  }
  await expect(page.locator('h1').textContent()).resolves.toBe(`signed in to ${app.key.toUpperCase()}`);
  const callback = rps.apps[app.key].callbacks.at(-1)!;
  expect(callback.href).toBe(page.url());
  const tokens = await redeem(app, request, callback);
  return { tokens, sawPasswordPrompt, sawConsent };
}

describe('single sign-on across two apps in a real browser', { timeout: 60_000 }, () => {
  it('signs in to app A through the sign-in and consent pages, and A redeems the code for a signed ID token', async () => {
    await createUser(server, 'alice');
    const page = await freshPage();
    const request = await authorizationRequest(appA);
    await page.goto(request.url.href);

    expect(onInteractionPage(page, server)).toBe(true);
    await expect(page.getByRole('heading', { name: 'Sign in', exact: true }).count()).resolves.toBe(1);
    await expect(page.locator('main').textContent()).resolves.toContain('Sign in to continue to Tessera E2E App A');
    const login = await fillLogin(page, 'alice', PASSWORD);
    expect(login?.status()).toBe(200);

    // The consent page names the app and lists each requested scope in plain words.
    expect(onInteractionPage(page, server)).toBe(true);
    await expect(page.getByRole('heading', { name: 'Allow access?', exact: true }).count()).resolves.toBe(1);
    await expect(page.locator('main strong').first().textContent()).resolves.toBe('Tessera E2E App A');
    await expect(page.locator('ul.scopes li').allTextContents()).resolves.toEqual([
      'Confirm who you are',
      'See your name and username',
      'See your email address',
      'Stay connected while you are away',
    ]);
    await expect(page.getByRole('checkbox', { name: 'Remember this decision' }).isChecked()).resolves.toBe(true);
    await expect(page.locator('#password').count()).resolves.toBe(0);
    const shot = screenshotPath('consent.png');
    if (shot) await page.screenshot({ path: shot, fullPage: true });

    await allowConsent(page);
    expect(page.url().startsWith(`${appA.redirectUri}?`)).toBe(true);
    await expect(page.locator('h1').textContent()).resolves.toBe('signed in to A');
    const callback = rps.apps.a.callbacks.at(-1)!;
    expect(callback.href).toBe(page.url());
    expect(callback.searchParams.get('iss')).toBe(server.issuer);

    const tokens = await redeem(appA, request, callback);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.refresh_token).toBeTruthy();
    const idToken = await verifyJwt(server, tokens.id_token!, appA.client.client_id);
    expect(idToken.nonce).toBe(request.nonce);
    expect(idToken.sub).toBe(tokens.claims()!.sub);
    expect(idToken.sid).toBeTruthy();
    expect(idToken.preferred_username).toBe('alice');
    expect(decodeJwt(tokens.id_token!).iss).toBe(server.issuer);
  });

  it('lets app B sign in from the same browser without a password prompt, for the same subject', async () => {
    await createUser(server, 'bianca');
    const page = await freshPage();
    const a = await signInTo(page, appA, 'bianca');
    expect(a.sawPasswordPrompt).toBe(true);

    const request = await authorizationRequest(appB);
    await page.goto(request.url.href);
    // Either B's consent page or B's callback — never the sign-in form.
    await expect(page.locator('#password').count()).resolves.toBe(0);
    if (onInteractionPage(page, server)) {
      await expect(page.getByRole('heading', { name: 'Allow access?', exact: true }).count()).resolves.toBe(1);
      await expect(page.locator('main strong').first().textContent()).resolves.toBe('Tessera E2E App B');
      await allowConsent(page);
    }
    expect(page.url().startsWith(`${appB.redirectUri}?`)).toBe(true);
    await expect(page.locator('h1').textContent()).resolves.toBe('signed in to B');

    const b = await redeem(appB, request, rps.apps.b.callbacks.at(-1)!);
    const idB = await verifyJwt(server, b.id_token!, appB.client.client_id);
    expect(idB.sub).toBe(a.tokens.claims()!.sub);
    expect(idB.aud).toBe(appB.client.client_id);
    expect((await oidc.fetchUserInfo(appB.config, b.access_token, idB.sub!)).preferred_username).toBe('bianca');
  });

  it('ends the session for A and B with one sign-out from A: both get verified back-channel logout tokens and B asks for the password again', async ({ annotate }) => {
    await createUser(server, 'carol');
    const page = await freshPage();
    const a = await signInTo(page, appA, 'carol');
    const b = await signInTo(page, appB, 'carol');
    expect(b.sawPasswordPrompt).toBe(false);
    const sub = a.tokens.claims()!.sub;
    const sidOf = { a: a.tokens.claims()!.sid, b: b.tokens.claims()!.sid };
    expect(sidOf.a).toBeTruthy();
    expect(sidOf.b).toBeTruthy();
    rps.reset();

    const endSession = oidc.buildEndSessionUrl(appA.config, {
      id_token_hint: a.tokens.id_token!,
      post_logout_redirect_uri: appA.postLogoutUri,
      state: 'bye',
    });
    await page.goto(endSession.href);
    await expect(page.getByRole('heading', { name: 'Sign out?', exact: true }).count()).resolves.toBe(1);
    await submit(page, page.getByRole('button', { name: 'Yes, sign me out' }));

    const landed = new URL(page.url());
    expect(landed.origin + landed.pathname).toBe(appA.postLogoutUri);
    expect(landed.searchParams.get('state')).toBe('bye');
    await expect(page.locator('h1').textContent()).resolves.toBe('signed out of A');

    for (const app of [appA, appB]) {
      const tokens = await rps.waitForLogoutTokens(app.key, 1);
      expect(tokens, `logout tokens delivered to ${app.key}`).toHaveLength(1);
      const payload = await verifyJwt(server, tokens[0]!, app.client.client_id);
      expect(payload.aud).toBe(app.client.client_id);
      expect(payload.events).toHaveProperty([BACKCHANNEL_EVENT]);
      expect(payload.sub).toBe(sub);
      expect(payload.sid).toBe(sidOf[app.key]);
      expect(payload.jti).toBeTruthy();
      expect(payload.iat).toBeTypeOf('number');
      expect(payload).not.toHaveProperty('nonce');
    }

    // The browser's session is gone: B's next authorization request asks for the password.
    await page.goto((await authorizationRequest(appB)).url.href);
    expect(onInteractionPage(page, server)).toBe(true);
    await expect(page.locator('#password').count()).resolves.toBe(1);
    await expect(page.getByRole('heading', { name: 'Sign in', exact: true }).count()).resolves.toBe(1);

    // Recorded, not asserted: back-channel logout ends sessions; an offline_access refresh token may outlive them.
    const refreshB = await oidc.refreshTokenGrant(appB.config, b.tokens.refresh_token!).then(
      () => 'still works after sign-out',
      (error: { error?: string }) => `refused after sign-out (${error.error ?? String(error)})`,
    );
    await annotate(`B's refresh token (offline_access): ${refreshB}`);
  });
});
