// Real browser, two real servers: an app signs a person in through Tessera, who signs in at an upstream
// OpenID Connect provider (a second Tessera, http://localhost:PORT) by pressing "Continue with Corp SSO".
// The app gets a code from Tessera (http://127.0.0.1:PORT) and redeems it for Tessera's own tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import * as oidc from 'openid-client';
import { runOperation } from '../../src/services/operations.ts';
import { createUser } from '../helpers/oauth.ts';
import { startPair, UPSTREAM_PASSWORD, type Pair } from '../upstream/helpers.ts';
import {
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

let pair: Pair;
let rps: RelyingParties;
let browser: Browser;
let app: RegisteredApp;

beforeAll(async () => {
  [pair, rps, browser] = await Promise.all([startPair({ provisioning: 'jit', defaultRoles: ['staff'] }), startRelyingParties(), launchBrowser()]);
  app = await registerApp(pair.downstream, rps, 'a', 'Tessera E2E App A');
  await createUser(pair.upstream, 'ursula', UPSTREAM_PASSWORD);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await rps?.close();
  await pair?.stop();
});

describe('signing in through an upstream identity provider in a real browser', { timeout: 60_000 }, () => {
  it('clicks "Continue with Corp SSO", signs in at the upstream, and lands at the app with a code for Tessera\'s tokens', async () => {
    const page = await (await browser.newContext()).newPage();
    const request = await authorizationRequest(app);
    await page.goto(request.url.href);

    // Tessera's sign-in page, with the upstream's button under the password form.
    expect(onInteractionPage(page, pair.downstream)).toBe(true);
    await expect(page.locator('main').textContent()).resolves.toContain('Sign in to continue to Tessera E2E App A');
    const button = page.getByRole('button', { name: 'Continue with Corp SSO', exact: true });
    await expect(button.count()).resolves.toBe(1);
    const shot = screenshotPath('upstream-login.png');
    if (shot) await page.screenshot({ path: shot, fullPage: true });

    // At the upstream: its own sign-in page, on its own origin.
    await submit(page, button);
    expect(new URL(page.url()).origin).toBe(pair.upstream.issuer);
    expect(onInteractionPage(page, pair.upstream)).toBe(true);
    await expect(page.locator('main').textContent()).resolves.toContain('Sign in to continue to Downstream broker');
    await expect(page.getByRole('button', { name: /^Continue with/ }).count()).resolves.toBe(0);
    await fillLogin(page, 'ursula', UPSTREAM_PASSWORD);

    // Back at Tessera: the app is not first-party, so its consent page; then the app's callback.
    expect(onInteractionPage(page, pair.downstream)).toBe(true);
    await expect(page.getByRole('heading', { name: 'Allow access?', exact: true }).count()).resolves.toBe(1);
    await allowConsent(page);
    expect(page.url().startsWith(`${app.redirectUri}?`)).toBe(true);
    await expect(page.locator('h1').textContent()).resolves.toBe('signed in to A');

    const callback = rps.apps.a.callbacks.at(-1)!;
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    expect(callback.searchParams.get('iss')).toBe(pair.downstream.issuer);
    const tokens = await redeem(app, request, callback);

    // Tessera's own tokens, for a local account linked to the upstream subject, made just in time.
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(pair.downstream.issuer);
    const local = await runOperation(pair.downstream.operations, 'user.show', { user: claims.sub });
    expect(local).toMatchObject({ username: 'ursula', roles: ['staff'] });
    const upstreamUser = await runOperation(pair.upstream.operations, 'user.show', { user: 'ursula' });
    expect(claims.sub).not.toBe(upstreamUser.id);
    expect(await pair.downstream.runtime.db('account_identities').where({ account_id: claims.sub }).select('upstream_id', 'subject')).toEqual([
      { upstream_id: 'corp', subject: upstreamUser.id },
    ]);
    // The ID token is signed by Tessera for the app (nothing from the upstream reaches it), and userinfo
    // answers from the local account.
    const idToken = await verifyJwt(pair.downstream, tokens.id_token!, app.client.client_id);
    expect(idToken).toMatchObject({ iss: pair.downstream.issuer, aud: app.client.client_id, nonce: request.nonce, sub: claims.sub });
    expect((await oidc.fetchUserInfo(app.config, tokens.access_token, claims.sub)).preferred_username).toBe('ursula');
  });
});
