// The device flow (RFC 8628) with the person in a real browser: openid-client v6 is the device
// (initiateDeviceAuthorization, pollDeviceAuthorizationGrant); headless Chromium enters the code, confirms,
// signs in and consents on the real pages — with the host's CSP enforced, which the test watches for
// violations — or cancels, or types a wrong code; and a cross-site form cannot approve a code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createClient, createUser, discover } from '../helpers/oauth.ts';
import { bearerHash } from '../../src/store/bearer-hash.ts';
import { DEVICE_CODE_GRANT } from '../../src/domain/client-metadata.ts';
import { PASSWORD, allowConsent, fillLogin, launchBrowser, screenshotPath, submit } from './helpers.ts';
import { pollInBackground } from '../helpers/device-flow.ts';

let server: TestServer;
let browser: Browser;
let config: oidc.Configuration;

beforeAll(async () => {
  [server, browser] = await Promise.all([startTestServer({ env: { DEVICE_POLL_INTERVAL: '1' } }), launchBrowser()]);
  await createUser(server, 'alice');
  const client = await createClient(server, { name: 'Living Room TV', redirectUris: [], grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'], authMethod: 'none' });
  config = await discover(server, client);
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page in its own browser context, recording every CSP violation the browser reports. */
async function freshPage(): Promise<{ page: Page; violations: string[] }> {
  const page = await (await browser.newContext()).newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return { page, violations };
}

const mainText = async (page: Page) => ((await page.locator('main').textContent()) ?? '').replace(/\s+/g, ' ');

describe('device flow in a real browser', { timeout: 60_000 }, () => {
  it('enters the code, confirms, signs in and consents; the device gets its tokens', async () => {
    const response = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
    const polling = oidc.pollDeviceAuthorizationGrant(config, response);
    const { page, violations } = await freshPage();
    await page.goto(response.verification_uri);
    await expect(page.getByRole('heading', { name: 'Connect a device', exact: true }).count()).resolves.toBe(1);
    // Typed as a person might: lower case, no dash.
    await page.locator('#user_code').fill(response.user_code.toLowerCase().replace('-', ''));
    await submit(page, page.getByRole('button', { name: 'Continue', exact: true }));

    await expect(page.getByRole('heading', { name: 'Connect this device?', exact: true }).count()).resolves.toBe(1);
    const confirmText = await mainText(page);
    expect(confirmText).toContain('Living Room TV');
    expect(confirmText).toContain(response.user_code);
    expect(confirmText).toContain('Never enter a code that someone sent you');
    const shot = screenshotPath('device-confirm.png');
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    await submit(page, page.getByRole('button', { name: 'Yes, connect it', exact: true }));

    await fillLogin(page, 'alice', PASSWORD);
    await allowConsent(page);
    await expect(page.getByRole('heading', { name: 'Device connected', exact: true }).count()).resolves.toBe(1);
    expect(await mainText(page)).toContain('Living Room TV is now signed in');

    const tokens = await polling;
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.claims()?.iss).toBe(server.issuer);
    expect(violations).toEqual([]);
  });

  it('follows verification_uri_complete to the confirmation (the engine\'s auto-submit, allowed by its CSP hash), and Cancel denies the device', async () => {
    const response = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const polling = pollInBackground(config, response);
    const { page, violations } = await freshPage();
    await Promise.all([page.waitForURL(`${server.issuer}/device`, { waitUntil: 'load' }), page.goto(response.verification_uri_complete!)]);
    await page.getByRole('heading', { name: 'Connect this device?', exact: true }).waitFor();
    await submit(page, page.getByRole('button', { name: 'No, cancel', exact: true }));
    expect(await mainText(page)).toContain('The request was cancelled');
    await expect(polling).rejects.toMatchObject({ error: 'access_denied' });
    expect(violations).toEqual([]);
  });

  it('says a wrong code is not valid and keeps the form, echoing what was typed only as text', async () => {
    const { page, violations } = await freshPage();
    await page.goto(`${server.issuer}/device`);
    await page.locator('#user_code').fill('"><img src=x onerror=alert(1)>');
    let dialogs = 0;
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    await submit(page, page.getByRole('button', { name: 'Continue', exact: true }));
    expect(await mainText(page)).toContain('That code is not valid');
    await expect(page.locator('img').count()).resolves.toBe(0);
    await expect(page.locator('#user_code').inputValue()).resolves.toBe('"><img src=x onerror=alert(1)>');
    expect(dialogs).toBe(0);
    expect(violations).toEqual([]);
  });

  it('refuses a cross-site form that tries to approve a code (no CSRF token, no session cookie sent)', async () => {
    const response = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const { page } = await freshPage();
    // The person has the device page open (a session cookie exists) …
    await page.goto(`${server.issuer}/device`);
    // … and visits another site, which posts a form to it.
    await page.goto('about:blank');
    await page.setContent(
      `<form method="post" action="${server.issuer}/device"><input name="user_code" value="${response.user_code}"><input name="confirm" value="yes"><button>go</button></form>`,
    );
    const [answer] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator('button').click()]);
    expect(answer?.status()).toBe(400);
    expect(await mainText(page)).not.toContain('Connect this device?');
    const row = await server.runtime.db('tokens').where('id_hash', bearerHash(response.device_code)).first();
    expect(row.payload.inFlight).toBeUndefined();
    expect(row.payload.accountId).toBeUndefined();
  });
});
