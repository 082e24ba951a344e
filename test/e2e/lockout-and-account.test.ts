// Real browser, real server: lock-out after repeated wrong passwords, and the account page where a person
// sees and removes the apps they allowed.
import { describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { createUser } from '../helpers/oauth.ts';
import {
  PASSWORD,
  allowConsent,
  authorizationRequest,
  fillLogin,
  onInteractionPage,
  redeem,
  screenshotPath,
  submit,
  useE2eWorld,
} from './helpers.ts';

// The server runs with its defaults: LOGIN_MAX_FAILURES=5, LOGIN_LOCK_SECONDS=60.
const world = useE2eWorld();

const alertText = (page: Page) => page.getByRole('alert').textContent();

describe('lock-out after repeated wrong passwords', { timeout: 60_000 }, () => {
  it('locks the account name after 5 wrong passwords, says for how many minutes, and refuses even the right password', async () => {
    await createUser(world.server, 'lena');
    const page = await world.freshPage();
    await page.goto((await authorizationRequest(world.appA)).url.href);
    expect(onInteractionPage(page, world.server)).toBe(true);

    for (let attempt = 1; attempt <= 4; attempt++) {
      const res = await fillLogin(page, 'lena', `wrong password ${attempt}`);
      expect(res?.status(), `attempt ${attempt}`).toBe(401);
      await expect(alertText(page)).resolves.toBe('The username or password is incorrect.');
    }
    const fifth = await fillLogin(page, 'lena', 'wrong password 5');
    expect(fifth?.status()).toBe(429);
    expect(Number(fifth?.headers()['retry-after'])).toBeGreaterThan(0);
    await expect(alertText(page)).resolves.toMatch(/^Too many attempts\. Try again in \d+ minutes?\.$/);

    // The right password changes nothing while the lock lasts: same page, same message, no code for the app.
    const right = await fillLogin(page, 'lena', PASSWORD);
    expect(right?.status()).toBe(429);
    expect(onInteractionPage(page, world.server)).toBe(true);
    await expect(alertText(page)).resolves.toMatch(/^Too many attempts\. Try again in \d+ minutes?\.$/);
    await expect(page.locator('#password').count()).resolves.toBe(1);
    expect(world.rps.apps.a.callbacks.filter((u) => u.searchParams.has('code'))).toHaveLength(0);

    // Another world.browser gets the same answer: the lock is on the account name, not on the cookie jar.
    const other = await world.freshPage();
    await other.goto((await authorizationRequest(world.appB)).url.href);
    expect((await fillLogin(other, 'lena', PASSWORD))?.status()).toBe(429);
    await expect(alertText(other)).resolves.toMatch(/^Too many attempts\./);
    expect(world.rps.apps.b.callbacks).toHaveLength(0);
  });
});

describe('account page', { timeout: 60_000 }, () => {
  it('lists app A after consent, and "Remove access" removes it and kills its refresh and access tokens', async () => {
    await createUser(world.server, 'maria');
    const page = await world.freshPage();
    const request = await authorizationRequest(world.appA);
    await page.goto(request.url.href);
    await fillLogin(page, 'maria', PASSWORD);
    await allowConsent(page);
    expect(page.url().startsWith(`${world.appA.redirectUri}?`)).toBe(true);
    const tokens = await redeem(world.appA, request, new URL(page.url()));
    expect((await oidc.tokenIntrospection(world.appA.config, tokens.access_token)).active).toBe(true);

    await page.goto(`${world.server.issuer}/account`);
    await expect(page.getByRole('heading', { name: 'Your account', exact: true }).count()).resolves.toBe(1);
    await expect(page.locator('main').textContent()).resolves.toContain('Signed in as maria');
    const appItems = page.locator('ul.apps > li');
    await expect(appItems.locator('strong').allTextContents()).resolves.toEqual(['Tessera E2E App A']);
    // The account page names the granted scopes in the consent page's plain words.
    await expect(appItems.first().locator('.muted').textContent()).resolves.toContain(
      'Confirm who you are · See your name and username · See your email address · Stay connected while you are away',
    );
    const shot = screenshotPath('account.png');
    if (shot) await page.screenshot({ path: shot, fullPage: true });

    const response = await submit(page, page.getByRole('button', { name: 'Remove access — Tessera E2E App A' }));
    expect(response?.status()).toBe(200);
    expect(page.url()).toBe(`${world.server.issuer}/account`);
    await expect(appItems.count()).resolves.toBe(0);
    await expect(page.locator('main').textContent()).resolves.toContain('No app has access to your account.');

    await expect(oidc.refreshTokenGrant(world.appA.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(world.appA.config, tokens.access_token)).active).toBe(false);
  });

  it('sends a visitor who is not signed in through the sign-in page and back to the account page', async () => {
    await createUser(world.server, 'nora');
    const page = await world.freshPage();
    await page.goto(`${world.server.issuer}/account`);
    await expect(page.getByRole('heading', { name: 'Your account', exact: true }).count()).resolves.toBe(1);
    await expect(page.locator('ul.apps').count()).resolves.toBe(0);

    await submit(page, page.getByRole('link', { name: 'Sign in' }));
    expect(onInteractionPage(page, world.server)).toBe(true);
    await expect(page.locator('#password').count()).resolves.toBe(1);

    const res = await fillLogin(page, 'nora', PASSWORD);
    expect(res?.status()).toBe(200);
    expect(page.url()).toBe(`${world.server.issuer}/account`);
    await expect(page.locator('main').textContent()).resolves.toContain('Signed in as nora');
    await expect(page.locator('main').textContent()).resolves.toContain('No app has access to your account.');
  });
});
