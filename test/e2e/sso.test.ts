// Real browser, real server: two apps share one sign-in, and one sign-out ends it for both (back-channel).
// Headless Chromium is slower than the HTTP tests, hence the longer timeout.
import { describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import type { Page } from 'playwright-core';
import { createUser } from '../helpers/oauth.ts';
import {
  BACKCHANNEL_EVENT,
  PASSWORD,
  allowConsent,
  authorizationRequest,
  fillLogin,
  onInteractionPage,
  redeem,
  screenshotPath,
  submit,
  verifyJwt,
  type RegisteredApp,
  useE2eWorld,
} from './helpers.ts';

const world = useE2eWorld();

/** Opens `app`'s authorize URL in the page, signs in if asked, allows if asked, and redeems the code. */
async function signInTo(page: Page, app: RegisteredApp, username: string) {
  const request = await authorizationRequest(app);
  await page.goto(request.url.href);
  const sawPasswordPrompt = onInteractionPage(page, world.server) && (await page.locator('#password').count()) > 0;
  if (sawPasswordPrompt) await fillLogin(page, username, PASSWORD);
  const sawConsent = onInteractionPage(page, world.server) && (await page.getByRole('heading', { name: 'Allow access?', exact: true }).count()) > 0;
  if (sawConsent) await allowConsent(page);
  if (!page.url().startsWith(`${app.redirectUri}?`)) {
    const text = (await page.locator('body').textContent())?.replace(/\s+/g, ' ').trim();
    expect.fail(`expected ${app.key}'s callback, at ${page.url()} (password prompt: ${sawPasswordPrompt}, consent: ${sawConsent}): ${text}`);
  }
  await expect(page.locator('h1').textContent()).resolves.toBe(`signed in to ${app.key.toUpperCase()}`);
  const callback = world.rps.apps[app.key].callbacks.at(-1)!;
  expect(callback.href).toBe(page.url());
  const tokens = await redeem(app, request, callback);
  return { tokens, sawPasswordPrompt, sawConsent };
}

describe('single sign-on across two apps in a real world.browser', { timeout: 60_000 }, () => {
  it('signs in to app A through the sign-in and consent pages, and A redeems the code for a signed ID token', async () => {
    await createUser(world.server, 'alice');
    const page = await world.freshPage();
    const request = await authorizationRequest(world.appA);
    await page.goto(request.url.href);

    expect(onInteractionPage(page, world.server)).toBe(true);
    await expect(page.getByRole('heading', { name: 'Sign in', exact: true }).count()).resolves.toBe(1);
    await expect(page.locator('main').textContent()).resolves.toContain('Sign in to continue to Tessera E2E App A');
    const login = await fillLogin(page, 'alice', PASSWORD);
    expect(login?.status()).toBe(200);

    // The consent page names the app and lists each requested scope in plain words.
    expect(onInteractionPage(page, world.server)).toBe(true);
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
    expect(page.url().startsWith(`${world.appA.redirectUri}?`)).toBe(true);
    await expect(page.locator('h1').textContent()).resolves.toBe('signed in to A');
    const callback = world.rps.apps.a.callbacks.at(-1)!;
    expect(callback.href).toBe(page.url());
    expect(callback.searchParams.get('iss')).toBe(world.server.issuer);

    const tokens = await redeem(world.appA, request, callback);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.refresh_token).toBeTruthy();
    const idToken = await verifyJwt(world.server, tokens.id_token!, world.appA.client.client_id);
    expect(idToken.nonce).toBe(request.nonce);
    expect(idToken.sub).toBe(tokens.claims()!.sub);
    expect(idToken.sid).toBeTruthy();
    expect(idToken.preferred_username).toBe('alice');
    expect(decodeJwt(tokens.id_token!).iss).toBe(world.server.issuer);
  });

  it('lets app B sign in from the same world.browser without a password prompt, for the same subject', async () => {
    await createUser(world.server, 'bianca');
    const page = await world.freshPage();
    const a = await signInTo(page, world.appA, 'bianca');
    expect(a.sawPasswordPrompt).toBe(true);

    const request = await authorizationRequest(world.appB);
    await page.goto(request.url.href);
    // Either B's consent page or B's callback — never the sign-in form.
    await expect(page.locator('#password').count()).resolves.toBe(0);
    if (onInteractionPage(page, world.server)) {
      await expect(page.getByRole('heading', { name: 'Allow access?', exact: true }).count()).resolves.toBe(1);
      await expect(page.locator('main strong').first().textContent()).resolves.toBe('Tessera E2E App B');
      await allowConsent(page);
    }
    expect(page.url().startsWith(`${world.appB.redirectUri}?`)).toBe(true);
    await expect(page.locator('h1').textContent()).resolves.toBe('signed in to B');

    const b = await redeem(world.appB, request, world.rps.apps.b.callbacks.at(-1)!);
    const idB = await verifyJwt(world.server, b.id_token!, world.appB.client.client_id);
    expect(idB.sub).toBe(a.tokens.claims()!.sub);
    expect(idB.aud).toBe(world.appB.client.client_id);
    expect((await oidc.fetchUserInfo(world.appB.config, b.access_token, idB.sub!)).preferred_username).toBe('bianca');
  });

  it('ends the session for A and B with one sign-out from A: both get verified back-channel logout tokens and B asks for the password again', async ({ annotate }) => {
    await createUser(world.server, 'carol');
    const page = await world.freshPage();
    const a = await signInTo(page, world.appA, 'carol');
    const b = await signInTo(page, world.appB, 'carol');
    expect(b.sawPasswordPrompt).toBe(false);
    const sub = a.tokens.claims()!.sub;
    const sidOf = { a: a.tokens.claims()!.sid, b: b.tokens.claims()!.sid };
    expect(sidOf.a).toBeTruthy();
    expect(sidOf.b).toBeTruthy();
    world.rps.reset();

    const endSession = oidc.buildEndSessionUrl(world.appA.config, {
      id_token_hint: a.tokens.id_token!,
      post_logout_redirect_uri: world.appA.postLogoutUri,
      state: 'bye',
    });
    await page.goto(endSession.href);
    await expect(page.getByRole('heading', { name: 'Sign out?', exact: true }).count()).resolves.toBe(1);
    await submit(page, page.getByRole('button', { name: 'Yes, sign me out' }));

    const landed = new URL(page.url());
    expect(landed.origin + landed.pathname).toBe(world.appA.postLogoutUri);
    expect(landed.searchParams.get('state')).toBe('bye');
    await expect(page.locator('h1').textContent()).resolves.toBe('signed out of A');

    for (const app of [world.appA, world.appB]) {
      const tokens = await world.rps.waitForLogoutTokens(app.key, 1);
      expect(tokens, `logout tokens delivered to ${app.key}`).toHaveLength(1);
      const payload = await verifyJwt(world.server, tokens[0]!, app.client.client_id);
      expect(payload.aud).toBe(app.client.client_id);
      expect(payload.events).toHaveProperty([BACKCHANNEL_EVENT]);
      expect(payload.sub).toBe(sub);
      expect(payload.sid).toBe(sidOf[app.key]);
      expect(payload.jti).toBeTruthy();
      expect(payload.iat).toBeTypeOf('number');
      expect(payload).not.toHaveProperty('nonce');
    }

    // The world.browser's session is gone: B's next authorization request asks for the password.
    await page.goto((await authorizationRequest(world.appB)).url.href);
    expect(onInteractionPage(page, world.server)).toBe(true);
    await expect(page.locator('#password').count()).resolves.toBe(1);
    await expect(page.getByRole('heading', { name: 'Sign in', exact: true }).count()).resolves.toBe(1);

    // Recorded, not asserted: back-channel logout ends sessions; an offline_access refresh token may outlive them.
    const refreshB = await oidc.refreshTokenGrant(world.appB.config, b.tokens.refresh_token!).then(
      () => 'still works after sign-out',
      (error: { error?: string }) => `refused after sign-out (${error.error ?? String(error)})`,
    );
    await annotate(`B's refresh token (offline_access): ${refreshB}`);
  });
});
