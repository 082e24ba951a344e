// Real WebAuthn in headless Chromium: a virtual authenticator (Chrome DevTools Protocol WebAuthn domain:
// CTAP2, internal transport, resident keys, user verification) registers a passkey on /account after the
// password, signs in passwordless through a real OIDC client flow (openid-client; amr in the ID token), serves
// as the second factor after a password (the sign-in step's "Use a passkey"), and
// a cloned authenticator (its signature counter set back) is refused and audited.
//
// WebAuthn refuses IP-address RP IDs, so this server's issuer is http://localhost:<port> (a secure context).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { decodeJwt } from 'jose';
import { startTestServer, freePort, type TestServer } from '../helpers/server.ts';
import { createUser } from '../helpers/oauth.ts';
import {
  PASSWORD,
  allowConsent,
  authorizationRequest,
  fillLogin,
  launchBrowser,
  onInteractionPage,
  redeem,
  registerApp,
  startRelyingParties,
  submit,
  type RegisteredApp,
  type RelyingParties,
} from './helpers.ts';

let server: TestServer;
let rps: RelyingParties;
let browser: Browser;
let app: RegisteredApp;

beforeAll(async () => {
  const port = await freePort();
  [server, rps, browser] = await Promise.all([
    startTestServer({ env: { PORT: String(port), ISSUER: `http://localhost:${port}` } }),
    startRelyingParties(),
    launchBrowser(),
  ]);
  app = await registerApp(server, rps, 'a', 'Passkey App');
});

afterAll(async () => {
  await browser?.close();
  await rps?.close();
  await server?.stop();
});

/** A fresh page with a virtual platform authenticator that verifies the user by itself. */
async function pageWithAuthenticator(): Promise<{ page: Page; cdp: CDPSession; authenticatorId: string }> {
  const page = await (await browser.newContext()).newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { page, cdp, authenticatorId };
}

const auditOf = (type: string) => server.runtime.db('audit_events').where({ type }).orderBy('id');

async function signOut(page: Page) {
  await page.goto(`${server.issuer}/session/end`);
  await submit(page, page.getByRole('button', { name: 'Yes, sign me out' }));
}

/**
 * Starts app A's authorization and presses "Sign in with a passkey"; returns the page's response. The page
 * must not offer conditional UI (see withoutConditionalUi), or the authenticator would answer that first.
 */
async function signInWithPasskeyButton(page: Page) {
  const request = await authorizationRequest(app);
  await page.goto(request.url.href);
  expect(onInteractionPage(page, server)).toBe(true);
  const button = page.getByRole('button', { name: 'Sign in with a passkey' });
  await button.waitFor({ state: 'visible' });
  const response = await submit(page, button);
  return { request, response };
}

/** From now on the page's browser says it has no conditional mediation (as browsers without autofill do). */
async function withoutConditionalUi(page: Page) {
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
  });
}

/** Completes app A's consent (asked again: prompt=consent) and checks the ID token's amr; returns its claims. */
async function finishAtApp(page: Page, request: Awaited<ReturnType<typeof authorizationRequest>>) {
  await allowConsent(page);
  expect(page.url().startsWith(`${app.redirectUri}?`)).toBe(true);
  const tokens = await redeem(app, request, new URL(page.url()));
  return decodeJwt(tokens.id_token!);
}

describe('passkeys in a real browser', { timeout: 90_000 }, () => {
  it('registers a passkey on /account after the password, then signs in with it alone (amr hwk, user, mfa); a cloned counter is refused', async () => {
    const user = await createUser(server, 'petra');
    const { page, cdp, authenticatorId } = await pageWithAuthenticator();

    // Signed in with the password through app A, then the account page.
    const first = await authorizationRequest(app);
    await page.goto(first.url.href);
    await fillLogin(page, 'petra', PASSWORD);
    await allowConsent(page);
    expect(page.url().startsWith(`${app.redirectUri}?`)).toBe(true);

    await page.goto(`${server.issuer}/account`);
    await expect(page.locator('main').textContent()).resolves.toContain('You have no passkeys yet.');
    await page.locator('#passkey-name').fill('Work laptop');
    await page.locator('#passkey-password').fill(PASSWORD);
    const added = await submit(page, page.getByRole('button', { name: 'Add a passkey' }));
    expect(added?.url()).toBe(`${server.issuer}/account`);
    expect(added?.status()).toBe(200);
    const items = page.locator('ul.passkeys > li');
    await expect(items.locator('strong').allTextContents()).resolves.toEqual(['Work laptop']);
    await expect(items.first().locator('.muted').textContent()).resolves.toContain('on one device');
    const stored = await server.runtime.db('webauthn_credentials').where({ account_id: user.id });
    expect(stored).toHaveLength(1);
    expect(stored[0].backup_state).toBe(false);
    const registered = await auditOf('passkey.registered');
    expect(registered.map((e) => e.account_id)).toEqual([user.id]);
    // The authenticator holds a discoverable credential for the issuer's host (the RP ID).
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.rpId).toBe('localhost');
    expect(credentials[0]!.isResidentCredential).toBe(true);

    // Signed out; passwordless sign-in through a real OIDC client flow, first by conditional UI: the page
    // starts navigator.credentials.get({ mediation: 'conditional' }) for the username field's autofill, and
    // the virtual authenticator (automatic presence) answers it without a click.
    await signOut(page);
    const conditional = await authorizationRequest(app);
    await page.goto(conditional.url.href);
    await page.getByRole('button', { name: 'Allow', exact: true }).waitFor({ state: 'visible' });
    const viaAutofill = await finishAtApp(page, conditional);
    expect(viaAutofill.sub).toBe(user.id);
    expect(viaAutofill.amr).toEqual(['hwk', 'user', 'mfa']);

    // Then with the "Sign in with a passkey" button (a modal request), in a browser without conditional UI.
    await signOut(page);
    await withoutConditionalUi(page);
    const { request, response } = await signInWithPasskeyButton(page);
    expect(response?.status()).toBe(200);
    const idToken = await finishAtApp(page, request);
    expect(idToken.sub).toBe(user.id);
    expect(idToken.amr).toEqual(['hwk', 'user', 'mfa']);
    const successes = (await auditOf('login.success')).filter((e) => e.details.method === 'passkey');
    expect(successes).toHaveLength(2);
    expect(successes[1]).toMatchObject({ account_id: user.id, details: { method: 'passkey', amr: ['hwk', 'user', 'mfa'] } });
    const [afterUse] = await server.runtime.db('webauthn_credentials').where({ account_id: user.id });
    expect(Number(afterUse.counter)).toBeGreaterThan(0);
    expect(afterUse.last_used_at).not.toBeNull();

    // A cloned authenticator: the same private key with its signature counter set back to 0.
    await signOut(page);
    const [credential] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential!.credentialId });
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...credential!, signCount: 0 } });
    const cloned = await signInWithPasskeyButton(page);
    expect(cloned.response?.status()).toBe(401);
    await expect(page.getByRole('alert').textContent()).resolves.toBe('The passkey could not sign you in. Try again, or sign in with your password.');
    expect(rps.apps.a.callbacks.filter((u) => u.searchParams.has('code'))).toHaveLength(3);
    const clones = await auditOf('passkey.cloned');
    expect(clones).toHaveLength(1);
    expect(clones[0]).toMatchObject({ account_id: user.id, details: { method: 'passkey', storedCounter: Number(afterUse.counter) } });
    // The refusal counted toward the lock-out like a wrong password.
    const failures = await auditOf('login.failure');
    expect(failures.at(-1)).toMatchObject({ account_id: user.id, details: { reason: 'cloned_counter' } });
  });

  it('serves as the second factor after a password: the step asks for it, the authenticator answers, amr pwd + key + mfa', async () => {
    const user = await createUser(server, 'quentin');
    const { page } = await pageWithAuthenticator();
    const first = await authorizationRequest(app);
    await page.goto(first.url.href);
    await fillLogin(page, 'quentin', PASSWORD);
    await allowConsent(page);
    await page.goto(`${server.issuer}/account`);
    await page.locator('#passkey-name').fill('Phone');
    await page.locator('#passkey-password').fill(PASSWORD);
    await submit(page, page.getByRole('button', { name: 'Add a passkey' }));
    expect(await server.runtime.db('webauthn_credentials').where({ account_id: user.id })).toHaveLength(1);

    // Signed out; a browser without autofill (so the passkey is not offered passwordless), the password.
    await signOut(page);
    await withoutConditionalUi(page);
    const request = await authorizationRequest(app);
    await page.goto(request.url.href);
    await fillLogin(page, 'quentin', PASSWORD);
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\/[^/]+\/second-factor$/);
    const usePasskey = page.getByRole('button', { name: 'Use a passkey' });
    await usePasskey.waitFor({ state: 'visible' });
    await submit(page, usePasskey);
    const idToken = await finishAtApp(page, request);
    expect(idToken.sub).toBe(user.id);
    expect(idToken.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'user', 'mfa']));
    expect(idToken.acr).toBe('urn:tessera:acr:mfa');
    const step = (await auditOf('login.success')).filter((e) => e.account_id === user.id && e.details.via === 'second-factor:passkey');
    expect(step).toHaveLength(1);
  });
});
