// Real browser, real server: setting up an authenticator app on the account page (the QR code is drawn as
// an image the page's CSP allows), then signing in to an app with the password and a code.
import { describe, expect, it } from 'vitest';
import { TOTP, Secret } from 'otpauth';
import { createUser } from '../helpers/oauth.ts';
import { PASSWORD, allowConsent, authorizationRequest, fillLogin, onInteractionPage, redeem, screenshotPath, submit, useE2eWorld } from './helpers.ts';

const world = useE2eWorld();

/** The code the app shows `ahead` periods from now (the server runs on the real clock). */
const codeAt = (secret: string, ahead = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + ahead * 30_000 });

describe('two-step verification', { timeout: 60_000 }, () => {
  it('is set up on the account page with a QR code and asked for at the next sign-in; the ID token says mfa', async () => {
    await createUser(world.server, 'otto');
    const page = await world.freshPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(`${world.server.issuer}/account/sign-in`);
    await fillLogin(page, 'otto', PASSWORD);
    expect(new URL(page.url()).pathname).toBe('/account');

    await submit(page, page.getByRole('button', { name: 'Set up an authenticator app' }));
    const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
    await expect(qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).resolves.toBe(true);
    const shot = screenshotPath('two-factor-setup.png');
    if (shot) await page.screenshot({ path: shot });
    const secret = (await page.locator('code').first().textContent())!.trim();
    await page.locator('#code').fill(codeAt(secret));
    await page.locator('#password').fill(PASSWORD);
    await submit(page, page.getByRole('button', { name: 'Confirm' }));
    expect(new URL(page.url()).pathname).toBe('/account/two-step/recovery-codes');
    await expect(page.locator('.recovery-codes li').count()).resolves.toBe(10);
    expect(cspViolations).toEqual([]);

    // Another browser: the app's sign-in asks for the code after the password.
    const other = await world.freshPage();
    const request = await authorizationRequest(world.appA);
    await other.goto(request.url.href);
    await fillLogin(other, 'otto', PASSWORD);
    expect(onInteractionPage(other, world.server)).toBe(true);
    expect(new URL(other.url()).pathname).toMatch(/\/second-factor$/);
    // A later step than the setup's code, so it is not refused as already used.
    await other.locator('#code-totp').fill(codeAt(secret, 1));
    await submit(other, other.getByRole('button', { name: 'Verify' }));
    if (onInteractionPage(other, world.server)) await allowConsent(other);
    const callback = world.rps.apps.a.callbacks.at(-1)!;
    expect(callback.searchParams.get('code')).toBeTruthy();
    const tokens = await redeem(world.appA, request, callback);
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    expect(tokens.claims()!.acr).toBe('urn:tessera:acr:mfa');
  });
});
