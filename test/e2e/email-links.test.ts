// Real browser, real SMTP: "Forgot password?" from an app's sign-in page, the reset link read from the
// message Tessera sent over SMTP and opened in Chromium, the new password set, and the way back to the same
// sign-in, ending with the app's code; then self-registration's verification link, confirmed in the browser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperation } from '../../src/services/operations.ts';
import { createUser } from '../helpers/oauth.ts';
import { linkIn, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts';
import { allowConsent, authorizationRequest, fillLogin, onInteractionPage, redeem, submit, useE2eWorld } from './helpers.ts';

let smtp: TestSmtpServer;
beforeAll(async () => {
  smtp = await startSmtpServer();
});
afterAll(async () => {
  await smtp?.close();
});
const world = useE2eWorld(() => ({ env: { SMTP_URL: smtp.url, SELF_REGISTRATION: 'true' } }));

describe('password reset in the browser', { timeout: 90_000 }, () => {
  it('goes from the sign-in page to the emailed link, sets a new password and comes back to finish signing in', async () => {
    await createUser(world.server, 'robin', 'forgotten password 1');
    const page = await world.freshPage();
    const request = await authorizationRequest(world.appA);
    await page.goto(request.url.href);
    expect(onInteractionPage(page, world.server)).toBe(true);
    const signInUrl = page.url();

    await submit(page, page.getByRole('link', { name: 'Forgot password?' }));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Reset your password');
    await page.locator('#identifier').fill('robin');
    await submit(page, page.getByRole('button', { name: 'Send the link' }));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Check your email');

    const mail = await smtp.next('robin@example.test');
    const link = linkIn(mail, '/password/reset');
    const opened = await page.goto(link);
    expect(opened?.status()).toBe(200);
    expect(opened?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    // Too short a password is stopped by the browser itself (minlength); the server's 422 is tested over HTTP.
    await page.locator('#password').fill('short');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    expect(await page.locator('#password').evaluate((el) => (el as HTMLInputElement).validity.tooShort)).toBe(true);
    await page.locator('#password').fill('remembered password 2');
    await submit(page, page.getByRole('button', { name: 'Set the new password' }));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Password changed');

    await submit(page, page.getByRole('link', { name: 'Continue signing in' }));
    expect(page.url()).toBe(signInUrl);
    await fillLogin(page, 'robin', 'remembered password 2');
    await allowConsent(page);
    const callback = new URL(page.url());
    expect(callback.origin + callback.pathname).toBe(world.appA.redirectUri);
    const tokens = await redeem(world.appA, request, callback);
    expect(tokens.claims()?.sub).toBeTruthy();

    // The link was used: opening it again says so.
    expect((await page.goto(link))?.status()).toBe(400);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('This link cannot be used');
  });
});

describe('email verification in the browser', { timeout: 90_000 }, () => {
  it('confirms the address of a new account with one click on the emailed link', async () => {
    const page = await world.freshPage();
    await page.goto((await authorizationRequest(world.appB)).url.href);
    await submit(page, page.getByRole('link', { name: 'Create an account' }));
    await page.locator('#username').fill('sasha');
    await page.locator('#email').fill('sasha@example.test');
    await page.locator('#password').fill('sasha password 1');
    await submit(page, page.getByRole('button', { name: 'Create account' }));
    expect((await runOperation(world.server.operations, 'user.show', { user: 'sasha' })).email_verified).toBe(false);

    const link = linkIn(await smtp.next('sasha@example.test'), '/email/verify');
    await page.goto(link);
    expect(await page.locator('strong').textContent()).toBe('sasha@example.test');
    await submit(page, page.getByRole('button', { name: 'Confirm' }));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Email address confirmed');
    expect((await runOperation(world.server.operations, 'user.show', { user: 'sasha' })).email_verified).toBe(true);
  });
});
