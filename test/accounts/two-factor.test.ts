// Two-factor sign-in (issue 17): an authenticator app enrolled on the account page, the second-factor step
// after the password, recovery codes, the lock-out, policy by setting, role and client, the walk-through
// enrolment, step-up by acr_values, and the operators' reset. Codes are computed here with otpauth at the
// server's (injected) clock.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { TOTP, Secret } from 'otpauth';
import { manualClock, startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { createClient, createUser, discover, REDIRECT_URI, basic } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import { parseConfig } from '../../src/config.ts';
import { listAuditEvents } from '../../src/store/audit.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import { adminApi, adminClient, adminToken } from '../admin/helpers.ts';
import { createStorage, runCliInProcess } from '../helpers/cli.ts';

const PASSWORD = 'correct horse battery';
const LIMIT = 4;
const clock = manualClock(new Date('2026-12-01T12:00:00Z'));
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ clock, env: { LOGIN_MAX_FAILURES: String(LIMIT), LOGIN_LOCK_SECONDS: '600', MFA_REQUIRED_ROLES: 'admin' } });
});
afterAll(() => server?.stop());
// Each test starts with a clean lock-out (every request comes from one address).
beforeEach(async () => {
  await server.runtime.db('login_attempts').delete();
});

/** The code an authenticator app shows now (at the server's clock), or `offset` periods away. */
function codeFor(secret: string, offset = 0): string {
  return new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: clock.now().getTime() + offset * 30_000 });
}

async function page(session: BrowserSession, url: string | URL) {
  const { res, url: at } = await session.follow(url);
  return { res, at, html: at.origin === server.issuer ? await res.text() : '' };
}

/** Signs in to the account page with the password alone (the account has no factor yet). */
async function accountSession(username: string): Promise<BrowserSession> {
  const session = new BrowserSession(server.issuer);
  const login = await page(session, '/account/sign-in');
  const res = await session.postForm(formAction(login.html), { csrf: csrfField(login.html), username, password: PASSWORD });
  expect(res.status).toBe(303);
  const account = await page(session, res.headers.get('location')!);
  expect(account.html).toContain('Two-step verification');
  return session;
}

/** Enrols an authenticator app on the account page; the secret and the recovery codes shown once. */
async function enrol(session: BrowserSession): Promise<{ secret: string; codes: string[] }> {
  const account = await page(session, '/account');
  const start = await session.postForm(formAction(account.html, account.html.split('<form').findIndex((f) => f.includes('/account/two-step/totp/start')) - 1), { csrf: csrfField(account.html) });
  expect(start.status).toBe(303);
  const setup = await page(session, start.headers.get('location')!);
  expect(setup.html).toContain('src="data:image/svg+xml;base64,');
  const secret = setup.html.match(/<code>([A-Z2-7]+)<\/code>/)![1]!;
  const factor = setup.html.match(/name="factor" value="([^"]+)"/)![1]!;
  const confirm = await session.postForm('/account/two-step/totp/confirm', { csrf: csrfField(setup.html), factor, code: codeFor(secret), password: PASSWORD });
  expect(confirm.status).toBe(303);
  expect(confirm.headers.get('location')).toBe('/account/two-step/recovery-codes');
  const shown = await page(session, confirm.headers.get('location')!);
  const codes = [...shown.html.matchAll(/<li><code>([0-9A-Z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
  expect(codes).toHaveLength(10);
  // Shown once.
  expect((await session.request('/account/two-step/recovery-codes')).status).toBe(400);
  clock.advance(30);
  return { secret, codes };
}

interface Flow {
  session: BrowserSession;
  config: oidc.Configuration;
  verifier: string;
  html: string;
  at: URL;
}

async function startFlow(client: ClientMetadata, session = new BrowserSession(server.issuer), extra: Record<string, string> = {}): Promise<Flow> {
  const config = await discover(server, client);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  const { html, at } = await page(session, url);
  return { session, config, verifier, html, at };
}

/** Posts the password form; where the browser lands next (the second-factor page, or the app). */
async function password(flow: Flow, username: string, pass = PASSWORD) {
  const res = await flow.session.postForm(formAction(flow.html), { csrf: csrfField(flow.html), username, password: pass });
  expect(res.status).toBe(303);
  const next = await page(flow.session, res.headers.get('location')!);
  return { ...flow, html: next.html, at: next.at, status: next.res.status };
}

/** Posts a code into the second-factor page's form of that kind. */
async function secondFactor(flow: Flow, kind: 'totp' | 'recovery-code', code: string) {
  const action = formAction(flow.html, kind === 'totp' ? 0 : 1);
  expect(action).toContain(`/second-factor/${kind}`);
  return flow.session.postForm(action, { csrf: csrfField(flow.html), code });
}

/** Follows to the app, consents when asked, and exchanges the code: the ID token's claims. */
async function complete(flow: Flow, res: Response) {
  expect(res.status).toBe(303);
  let step = await page(flow.session, res.headers.get('location')!);
  if (step.at.origin === server.issuer && step.html.includes('Allow access?')) {
    const consent = await flow.session.postForm(formAction(step.html), { csrf: csrfField(step.html), remember: '1' });
    step = await page(flow.session, consent.headers.get('location')!);
  }
  expect(step.at.origin + step.at.pathname).toBe(REDIRECT_URI);
  const tokens = await oidc.authorizationCodeGrant(flow.config, step.at, { pkceCodeVerifier: flow.verifier, idTokenExpected: true });
  return { claims: tokens.claims()!, tokens };
}

describe('authenticator app', () => {
  let client: ClientMetadata;
  let secret: string;
  let codes: string[];
  beforeAll(async () => {
    await createUser(server, 'tina');
    await createUser(server, 'walt');
    client = await createClient(server, { name: 'Two-step App', firstParty: true });
    ({ secret, codes } = await enrol(await accountSession('tina')));
  });

  it('is enrolled on the account page (audited) and then asked for after the password; the ID token says otp and mfa', async () => {
    const flow = await password(await startFlow(client), 'tina');
    expect(flow.at.pathname).toMatch(/\/interaction\/[^/]+\/second-factor$/);
    expect(flow.html).toContain('autocomplete="one-time-code"');
    const { claims, tokens } = await complete(flow, await secondFactor(flow, 'totp', codeFor(secret)));
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    expect(claims.acr).toBe('urn:tessera:acr:mfa');
    // Introspection says the same of the access token.
    const introspected = await (
      await fetch(`${server.issuer}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(client) },
        body: new URLSearchParams({ token: tokens.access_token }),
      })
    ).json();
    expect(introspected.active).toBe(true);
    expect(introspected.amr).toEqual(expect.arrayContaining(['otp', 'mfa']));
    expect(introspected.acr).toBe('urn:tessera:acr:mfa');
    const events = (await listAuditEvents(server.runtime.db, {})).map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(['mfa.totp_enrolled', 'mfa.recovery_codes_generated']));
    clock.advance(30);
  });

  it('refuses a code used once already, even in its own time window', async () => {
    const code = codeFor(secret);
    const first = await password(await startFlow(client), 'tina');
    await complete(first, await secondFactor(first, 'totp', code));
    const second = await password(await startFlow(client), 'tina');
    const again = await secondFactor(second, 'totp', code);
    expect(again.status).toBe(401);
    expect(await again.text()).toContain('already used');
    clock.advance(30);
  });

  it('cannot be skipped: the app is not reached from the second-factor page without a code, nor by resuming early', async () => {
    const flow = await password(await startFlow(client), 'tina');
    const uid = flow.at.pathname.split('/')[2]!;
    // Resuming the authorization without the second step signs nobody in: the sign-in starts over.
    const resumed = await page(flow.session, `/auth/${uid}`);
    expect(resumed.at.origin).toBe(server.issuer);
    expect(resumed.html).toContain('name="password"');
  });

  it('answers hostile input with readable pages: wrong lengths and characters, a forged step, no CSRF token', async () => {
    const flow = await password(await startFlow(client), 'tina');
    for (const code of ['12345', '1234567', 'abcdef', '<script>', '9'.repeat(64)]) {
      const res = await secondFactor(flow, 'totp', code);
      // Wrong, and counted: the fourth guess starts the lock-out.
      expect([401, 429]).toContain(res.status);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(await res.text()).not.toContain('<script>');
    }
    await server.runtime.db('login_attempts').delete();
    const tooLong = await flow.session.postForm(formAction(flow.html), { csrf: csrfField(flow.html), code: '1'.repeat(5000) });
    expect(tooLong.status).toBe(400);
    const noCsrf = await flow.session.postForm(formAction(flow.html), { code: codeFor(secret) });
    expect(noCsrf.status).toBe(403);
    const unknownKind = await flow.session.postForm(formAction(flow.html).replace('/totp', '/sms'), { csrf: csrfField(flow.html), code: '123456' });
    expect(unknownKind.status).toBe(404);
    // Another browser (no interaction cookie) cannot use this sign-in's step.
    const stranger = new BrowserSession(server.issuer);
    const forged = await stranger.postForm(formAction(flow.html), { csrf: 'x', code: codeFor(secret) });
    expect([400, 403]).toContain(forged.status);
    for (const path of [flow.at.pathname, `${flow.at.pathname}/codes`, '/interaction/no-such-uid/second-factor']) {
      const res = await stranger.request(path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    }
    // The codes page of a sign-in that set nothing up, and a setup post for a factor it never offered.
    expect((await flow.session.request(`${flow.at.pathname}/codes`)).status).toBe(400);
    const enrolForged = await flow.session.postForm(`${flow.at.pathname}/enrol`, { csrf: csrfField(flow.html), factor: 'someone-elses', code: '123456' });
    expect(enrolForged.status).toBe(400);
    // A step that was never started (no password yet) is refused.
    const fresh = await startFlow(client);
    const uid = fresh.at.pathname.split('/')[2]!;
    const skipped = await fresh.session.postForm(`/interaction/${uid}/second-factor/totp`, { csrf: csrfField(fresh.html), code: codeFor(secret) });
    expect(skipped.status).toBe(400);
    expect(await skipped.text()).toContain('start again');
  });

  it('signs in with a recovery code once (audited); the same code is refused after', async () => {
    const flow = await password(await startFlow(client), 'tina');
    const { claims } = await complete(flow, await secondFactor(flow, 'recovery-code', codes[0]!.toLowerCase()));
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    const again = await password(await startFlow(client), 'tina');
    expect((await secondFactor(again, 'recovery-code', codes[0]!)).status).toBe(401);
    const used = (await listAuditEvents(server.runtime.db, { type: 'mfa.recovery_code_used' })).filter((e) => e.accountId);
    expect(used.length).toBe(1);
    expect(used[0]!.details).toMatchObject({ remaining: 9 });
    await server.runtime.db('login_attempts').delete();
  });

  it('counts wrong codes toward the sign-in lock-out', async () => {
    const flow = await password(await startFlow(client), 'tina');
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) statuses.push((await secondFactor(flow, 'totp', '000000')).status);
    expect(statuses.slice(0, LIMIT - 1)).toEqual(Array(LIMIT - 1).fill(401));
    expect(statuses[LIMIT - 1]).toBe(429);
    // Locked: even the right password is refused now.
    const next = await startFlow(client);
    const res = await next.session.postForm(formAction(next.html), { csrf: csrfField(next.html), username: 'tina', password: PASSWORD });
    expect(res.status).toBe(429);
    await server.runtime.db('login_attempts').delete();
  });

  it('accepts one code once when two sign-ins send it at the same moment', async () => {
    const [a, b] = await Promise.all([password(await startFlow(client), 'tina'), password(await startFlow(client), 'tina')]);
    const code = codeFor(secret);
    const results = await Promise.all([secondFactor(a, 'totp', code), secondFactor(b, 'totp', code)]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 401]);
    clock.advance(30);
  });

  it('keeps the account page from a session that skipped the second factor, and asks the password for changes there', async () => {
    // A session that holds the factor (the enrolment upgraded it) sees the page; changes need the password.
    const session = await accountSession('walt');
    const { secret: waltSecret } = await enrol(session);
    const account = await page(session, '/account');
    expect(account.html).toContain('unused recovery codes left');
    const regenerate = await session.postForm('/account/two-step/recovery-codes', { csrf: csrfField(account.html), password: 'wrong password' });
    expect(regenerate.status).toBe(400);
    expect(await regenerate.text()).toContain('The password is not right.');
    const noCsrf = await session.postForm('/account/two-step/recovery-codes', { password: PASSWORD });
    expect(noCsrf.status).toBe(403);
    const fresh = await session.postForm('/account/two-step/recovery-codes', { csrf: csrfField(account.html), password: PASSWORD });
    expect(fresh.status).toBe(303);
    expect((await page(session, fresh.headers.get('location')!)).html.match(/<li><code>/g)).toHaveLength(10);
    const bogus = await session.postForm('/account/two-step/totp/confirm', { csrf: csrfField(account.html), factor: '../../etc', code: '123456', password: PASSWORD });
    expect(bogus.status).toBe(400);
    // A password-only session (walt's session cookie replayed without the factor is not possible; a new
    // browser signing in to the account page is asked for the code before the page shows).
    const other = new BrowserSession(server.issuer);
    const login = await page(other, '/account/sign-in');
    const res = await other.postForm(formAction(login.html), { csrf: csrfField(login.html), username: 'walt', password: PASSWORD });
    const step = await page(other, res.headers.get('location')!);
    expect(step.at.pathname).toMatch(/\/second-factor$/);
    expect((await page(other, '/account')).html).not.toContain('Two-step verification</h2>');
    const done = await other.postForm(formAction(step.html), { csrf: csrfField(step.html), code: codeFor(waltSecret) });
    expect(done.status).toBe(303);
    expect((await page(other, done.headers.get('location')!)).html).toContain('Two-step verification</h2>');
    clock.advance(30);
  });

  it('never writes a secret or a code into the log', async () => {
    const logs = server.logs.join('');
    expect(logs).not.toContain(secret);
    for (const c of codes) expect(logs).not.toContain(c);
  });
});

describe('step-up', () => {
  it('asks a person signed in with a password only for the second factor when a client sends acr_values for MFA', async () => {
    await createUser(server, 'stella');
    const plainApp = await createClient(server, { name: 'Plain App', firstParty: true });
    const stepUpApp = await createClient(server, { name: 'Step-up App', firstParty: true });
    const browser = new BrowserSession(server.issuer);
    const signedIn = await password(await startFlow(plainApp, browser), 'stella');
    expect(signedIn.at.origin + signedIn.at.pathname).toBe(REDIRECT_URI);
    // Enrolled elsewhere: this browser's session still holds amr [pwd] only.
    const { secret } = await enrol(await accountSession('stella'));
    const stepUp = await startFlow(stepUpApp, browser, { acr_values: 'urn:tessera:acr:mfa' });
    expect(stepUp.at.pathname).toMatch(/\/second-factor$/);
    expect(stepUp.html).not.toContain('name="password"');
    expect(stepUp.html).toContain('stronger sign-in');
    const { claims } = await complete(stepUp, await secondFactor(stepUp, 'totp', codeFor(secret)));
    expect(claims.acr).toBe('urn:tessera:acr:mfa');
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    clock.advance(30);
    // The session now holds the factor: the next app signs in silently.
    const silent = await startFlow(plainApp, browser, { prompt: 'none', acr_values: 'urn:tessera:acr:mfa' });
    expect(silent.at.searchParams.get('code')).toBeTruthy();
  });

  it('walks a signed-in person without any factor through enrolment when a client asks for MFA, asking the password only in the setup form', async () => {
    await createUser(server, 'nora');
    const plainApp = await createClient(server, { name: 'Plain App 2', firstParty: true });
    const stepUpApp = await createClient(server, { name: 'Step-up App 2', firstParty: true });
    const browser = new BrowserSession(server.issuer);
    await password(await startFlow(plainApp, browser), 'nora');
    const stepUp = await startFlow(stepUpApp, browser, { acr_values: 'urn:tessera:acr:mfa' });
    expect(stepUp.at.pathname).toMatch(/\/second-factor$/);
    expect(stepUp.html).not.toContain('name="username"');
    expect(stepUp.html).toContain('src="data:image/svg+xml;base64,');
    // Setting up a factor from a session (no fresh password) asks for the password in the same form.
    expect(stepUp.html).toContain('name="password"');
    const secret = stepUp.html.match(/<code>([A-Z2-7]+)<\/code>/)![1]!;
    const factor = stepUp.html.match(/name="factor" value="([^"]+)"/)![1]!;
    const noPassword = await browser.postForm(formAction(stepUp.html), { csrf: csrfField(stepUp.html), factor, code: codeFor(secret) });
    expect(noPassword.status).toBe(401);
    expect(await noPassword.text()).toContain('The password is not right.');
    const res = await browser.postForm(formAction(stepUp.html), { csrf: csrfField(stepUp.html), factor, code: codeFor(secret), password: PASSWORD });
    expect(res.status).toBe(303);
    const codesPage = await page(browser, res.headers.get('location')!);
    const cont = await browser.postForm(formAction(codesPage.html), { csrf: csrfField(codesPage.html) });
    const { claims } = await complete(stepUp, cont);
    expect(claims.amr).toEqual(expect.arrayContaining(['otp', 'mfa']));
    clock.advance(30);
  });

  it('advertises the two levels in discovery', async () => {
    const meta = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
    expect(meta.acr_values_supported).toEqual(['urn:tessera:acr:pwd', 'urn:tessera:acr:mfa']);
  });
});

describe('policy', () => {
  /** Password, then the walk-through: QR, a code, the recovery codes, continue; the ID token's claims. */
  async function walkThrough(client: ClientMetadata, username: string) {
    const flow = await password(await startFlow(client), username);
    expect(flow.at.pathname).toMatch(/\/second-factor$/);
    expect(flow.html).toContain('src="data:image/svg+xml;base64,');
    const secret = flow.html.match(/<code>([A-Z2-7]+)<\/code>/)![1]!;
    const factor = flow.html.match(/name="factor" value="([^"]+)"/)![1]!;
    // A wrong code first: the same page again, readable.
    const wrong = await flow.session.postForm(formAction(flow.html), { csrf: csrfField(flow.html), factor, code: '000000' });
    expect(wrong.status).toBe(401);
    const res = await flow.session.postForm(formAction(flow.html), { csrf: csrfField(flow.html), factor, code: codeFor(secret) });
    expect(res.status).toBe(303);
    const codesPage = await page(flow.session, res.headers.get('location')!);
    expect(codesPage.html.match(/<li><code>/g)).toHaveLength(10);
    const cont = await flow.session.postForm(formAction(codesPage.html), { csrf: csrfField(codesPage.html) });
    clock.advance(30);
    return { ...(await complete(flow, cont)), secret };
  }

  it('walks a person without a factor through enrolment when the client requires MFA (and not for other clients)', async () => {
    await createUser(server, 'carl');
    const strict = await createClient(server, { name: 'Strict App', firstParty: true, requireMfa: true });
    expect(strict.tessera_require_mfa).toBe(true);
    const relaxed = await createClient(server, { name: 'Relaxed App', firstParty: true });
    const plain = await password(await startFlow(relaxed), 'carl');
    expect(plain.at.origin + plain.at.pathname).toBe(REDIRECT_URI);
    const { claims } = await walkThrough(strict, 'carl');
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    expect((await runOperation(server.operations, 'user.factors', { user: 'carl' })).factors).toHaveLength(1);
  });

  it('requires a factor of accounts holding a role named in MFA_REQUIRED_ROLES', async () => {
    await createUser(server, 'ada');
    await runOperation(server.operations, 'user.add-role', { user: 'ada', roles: ['admin'] });
    const client = await createClient(server, { name: 'Any App', firstParty: true });
    await walkThrough(client, 'ada');
  });

  it('reads MFA_REQUIRED and MFA_REQUIRED_ROLES strictly, with one readable line per bad value', () => {
    const bad = parseConfig({ MFA_REQUIRED: 'sometimes', MFA_REQUIRED_ROLES: 'admin,<script>' });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems).toEqual(expect.arrayContaining(['MFA_REQUIRED: must be all or none', 'MFA_REQUIRED_ROLES: must be role names separated by commas']));
    const good = parseConfig({ MFA_REQUIRED: 'all', MFA_REQUIRED_ROLES: ' admin , ops ' });
    expect(good.ok && good.config.mfa).toEqual({ requiredForAll: true, requiredRoles: ['admin', 'ops'] });
  });

  it('keeps tessera_require_mfa out of registrants\' reach', async () => {
    const res = await fetch(`${server.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://rp.example/cb'], tessera_require_mfa: false }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });
});

describe('operators', () => {
  it('lists and removes factors through the admin API with the users scopes, never showing a secret', async () => {
    await createUser(server, 'rita');
    await enrol(await accountSession('rita'));
    const reader = adminApi(server, await adminToken(server, await adminClient(server, 'admin:users:read'), 'admin:users:read'));
    const listed = await reader.get('/users/rita/factors');
    expect(listed.status).toBe(200);
    expect(listed.body.factors).toHaveLength(1);
    expect(listed.body.recovery_codes_left).toBe(10);
    expect(JSON.stringify(listed.body)).not.toMatch(/secret|sealed/i);
    // Reading is not writing.
    expect((await reader.delete(`/users/rita/factors/${listed.body.factors[0].id}`)).status).toBe(403);
    const writer = adminApi(server, await adminToken(server, await adminClient(server, 'admin:users:write'), 'admin:users:write'));
    expect((await writer.delete('/users/rita/factors/no-such-factor')).status).toBe(404);
    const removed = await writer.delete(`/users/rita/factors/${listed.body.factors[0].id}`);
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ factors: [], recovery_codes_left: 0 });
    const audit = await listAuditEvents(server.runtime.db, { type: 'mfa.factor_removed' });
    expect(audit[0]!.details.actor).toMatch(/^admin:/);
  });

  it('resets a user with `tessera user reset-mfa` and sets --require-mfa on a client with `tessera client update`', async () => {
    await createUser(server, 'cli-user');
    await enrol(await accountSession('cli-user'));
    const storage = await createStorage();
    try {
      const reset = await runCliInProcess(storage, ['user', 'reset-mfa', '--username', 'cli-user'], { runtime: server.runtime });
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stdout).toContain('removed 1 second factor(s)');
      const client = await createClient(server, { name: 'CLI App' });
      const update = await runCliInProcess(storage, ['client', 'update', '--client-id', client.client_id, '--require-mfa', '--json'], { runtime: server.runtime });
      expect(update.code, update.stderr).toBe(0);
      expect(JSON.parse(update.stdout).require_mfa).toBe(true);
      const both = await runCliInProcess(storage, ['client', 'update', '--client-id', client.client_id, '--require-mfa', '--no-require-mfa'], { runtime: server.runtime });
      expect(both.code).not.toBe(0);
    } finally {
      await storage.drop();
    }
  });

  it('lists and resets a user\'s factors (audited); the person then signs in with the password alone', async () => {
    await createUser(server, 'lou');
    const client = await createClient(server, { name: 'Lou App', firstParty: true });
    await enrol(await accountSession('lou'));
    const listed = await runOperation(server.operations, 'user.factors', { user: 'lou' });
    expect(listed.factors).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toMatch(/secret/i);
    expect(listed.recovery_codes_left).toBe(10);
    const reset = await runOperation(server.operations, 'user.reset-mfa', { user: 'lou', actor: 'cli' });
    expect(reset.factors_removed).toBe(1);
    expect((await runOperation(server.operations, 'user.factors', { user: 'lou' })).recovery_codes_left).toBe(0);
    const flow = await password(await startFlow(client), 'lou');
    expect(flow.at.origin + flow.at.pathname).toBe(REDIRECT_URI);
    const audit = await listAuditEvents(server.runtime.db, { type: 'mfa.reset' });
    expect(audit.some((e) => e.details.actor === 'cli')).toBe(true);
  });
});
