// Passkeys over HTTP, server side: the ceremonies with a software authenticator (test/helpers/soft-
// authenticator.ts), through the real account page and sign-in page (BrowserSession) and a real OIDC
// client (openid-client). Every refusal is a readable answer — never a 500: wrong, expired or reused
// challenges, a forged origin or RP ID, hostile bodies, another person's passkey, no password, no CSRF
// token, a cloned counter; passkey failures count toward the lock-out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { manualClock, startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, REDIRECT_URI } from '../helpers/oauth.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { listPasskeys, passkeySecondFactorOptions, removeAllPasskeys, verifyPasskeySecondFactor } from '../../src/services/passkeys.ts';

const PASSWORD = 'correct horse battery';
const LIMIT = 4;
const clock = manualClock();
let server: TestServer;
let config: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer({ clock, env: { LOGIN_MAX_FAILURES: String(LIMIT), LOGIN_MAX_FAILURES_PER_IP: '10000', LOGIN_LOCK_SECONDS: '600' } });
  config = await discover(server, await createClient(server));
});
afterAll(() => server?.stop());

const db = () => server.runtime.db;
const audit = (type: string, accountId?: string) => db()('audit_events').where({ type, ...(accountId ? { account_id: accountId } : {}) }).orderBy('id');

function postJson(session: BrowserSession, path: string, body: unknown, headers: Record<string, string> = {}) {
  return session.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A person signed in (password, through the test client), on their account page. */
async function accountPage(username: string) {
  const session = new BrowserSession(server.issuer);
  await authorize(server, config, session, { username, scope: 'openid' });
  const res = await session.request('/account');
  const html = await res.text();
  expect(html).toContain('data-passkey="register"');
  const csrf = csrfField(html);
  const options = async () => {
    const r = await postJson(session, '/account/passkeys/options', { csrf });
    expect(r.status).toBe(200);
    return (await r.json()) as { challenge: string; user: { id: string }; rp: { id: string }; excludeCredentials: Array<{ id: string }> };
  };
  return {
    session,
    csrf,
    options,
    page: async () => (await session.request('/account')).text(),
    post: (path: string, fields: Record<string, string>) => session.postForm(path, { csrf, ...fields }),
    /** Options, the authenticator's answer, the form post: the whole registration. */
    async register(authenticator: SoftAuthenticator, fields: { name?: string; password?: string } = {}, over: Parameters<SoftAuthenticator['register']>[1] = {}) {
      const credential = authenticator.register(await options(), over);
      return session.postForm('/account/passkeys', { csrf, name: fields.name ?? 'Laptop', password: fields.password ?? PASSWORD, credential: JSON.stringify(credential) });
    },
  };
}

/**
 * An authorization request of the test client in a browser session of its own: the sign-in page's HTML, and
 * `finish` — after a 303 from a sign-in form: consent if asked, then the code exchanged; the ID token's claims.
 */
async function startAuthorization() {
  const session = new BrowserSession(server.issuer);
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const html = await (await session.follow(url)).res.text();
  async function finish(first: Response) {
    expect(first.status).toBe(303);
    let step = await session.follow(first.headers.get('location')!);
    if (step.url.origin === server.issuer) {
      const page = await step.res.text();
      const r = await session.postForm(formAction(page), { csrf: csrfField(page), remember: '1' });
      step = await session.follow(r.headers.get('location')!);
    }
    const tokens = await oidc.authorizationCodeGrant(config, step.url, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    return decodeJwt(tokens.id_token!);
  }
  return { session, html, finish };
}

/** A sign-in page of its own for the test client: passkey options, the form post, and the rest of the flow. */
async function signInPage() {
  const { session, html, finish } = await startAuthorization();
  expect(html).toContain('autocomplete="username webauthn"');
  const base = formAction(html).replace(/\/login$/, '');
  const csrf = csrfField(html);
  return {
    session,
    base,
    csrf,
    async options() {
      const r = await postJson(session, `${base}/passkey/options`, { csrf });
      expect(r.status).toBe(200);
      return (await r.json()) as { challenge: string; userVerification: string; allowCredentials?: unknown[]; rpId: string };
    },
    submit: (credential: unknown) => session.postForm(`${base}/passkey`, { csrf, credential: typeof credential === 'string' ? credential : JSON.stringify(credential) }),
    finish,
  };
}

describe('registering passkeys on /account', () => {
  it('registers after the password (303), lists it, and signs in with it alone: amr hwk, user, mfa in the ID token', async () => {
    const user = await createUser(server, 'pia');
    const page = await accountPage('pia');
    const authenticator = new SoftAuthenticator(server.issuer);
    const options = await page.options();
    // RP ID from the issuer's host; the user handle is the account id, nothing personal.
    expect(options.rp.id).toBe(new URL(server.issuer).hostname);
    expect(Buffer.from(options.user.id, 'base64url').toString()).toBe(user.id);
    const res = await page.register(authenticator, { name: '  Phone  ' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account');
    const html = await page.page();
    expect(html).toContain('<strong>Phone</strong>');
    expect(html).toContain('on one device');
    expect(await audit('passkey.registered', user.id)).toHaveLength(1);
    // A second registration names the first in excludeCredentials.
    expect((await page.options()).excludeCredentials.map((c) => c.id)).toEqual([authenticator.credentials[0]!.id.toString('base64url')]);

    const signIn = await signInPage();
    const signInOptions = await signIn.options();
    expect(signInOptions.userVerification).toBe('required');
    expect(signInOptions.allowCredentials ?? []).toEqual([]); // discoverable: no account named
    const claims = await signIn.finish(await signIn.submit(authenticator.assert(signInOptions)));
    expect(claims.sub).toBe(user.id);
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    const success = (await audit('login.success', user.id)).at(-1);
    expect(success.details).toMatchObject({ method: 'passkey', amr: ['hwk', 'user', 'mfa'] });
  });

  it('a synced passkey (backup state) signs in with amr swk', async () => {
    const user = await createUser(server, 'sven');
    const page = await accountPage('sven');
    const authenticator = new SoftAuthenticator(server.issuer, { backedUp: true });
    expect((await page.register(authenticator)).status).toBe(303);
    expect(await page.page()).toContain('synced');
    const signIn = await signInPage();
    const claims = await signIn.finish(await signIn.submit(authenticator.assert(await signIn.options())));
    expect(claims.sub).toBe(user.id);
    expect(claims.amr).toEqual(['swk', 'user', 'mfa']);
  });

  it('refuses registration without the password, or with a wrong one (401, counted and audited), and stores nothing', async () => {
    const user = await createUser(server, 'nora');
    const page = await accountPage('nora');
    const authenticator = new SoftAuthenticator(server.issuer);
    const none = await page.register(authenticator, { password: '' });
    expect(none.status).toBe(401);
    expect(await none.text()).toContain('The password is not right');
    const wrong = await page.register(authenticator, { password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(await db()('webauthn_credentials').where({ account_id: user.id })).toHaveLength(0);
    const failures = await audit('login.failure', user.id);
    expect(failures.map((f) => f.details.reason)).toEqual(['password_confirmation_failed', 'password_confirmation_failed']);
  });

  it('refuses a missing CSRF token on the options request and on the form (403), and non-JSON options requests (400)', async () => {
    await createUser(server, 'carl');
    const page = await accountPage('carl');
    const noToken = await postJson(page.session, '/account/passkeys/options', {});
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toMatchObject({ error: 'invalid_request' });
    const wrongToken = await postJson(page.session, '/account/passkeys/options', { csrf: 'x'.repeat(43) });
    expect(wrongToken.status).toBe(403);
    const asForm = await page.session.postForm('/account/passkeys/options', { csrf: page.csrf });
    expect(asForm.status).toBe(400);
    const authenticator = new SoftAuthenticator(server.issuer);
    const credential = authenticator.register(await page.options());
    const form = await page.session.postForm('/account/passkeys', { name: 'Laptop', password: PASSWORD, credential: JSON.stringify(credential) });
    expect(form.status).toBe(403);
    expect(await form.text()).toContain('the form expired or was not sent by this site');
    // Signed out (another browser): the options are refused, readably.
    const stranger = await signInPage();
    const signedOut = await postJson(stranger.session, '/account/passkeys/options', { csrf: stranger.csrf });
    expect(signedOut.status).toBe(400);
    expect(await signedOut.json()).toMatchObject({ error_description: 'you are signed out; sign in again' });
  });

  it('refuses a wrong, reused or expired challenge, a forged origin or RP ID, and no user verification', async () => {
    const user = await createUser(server, 'olga');
    const page = await accountPage('olga');
    const authenticator = new SoftAuthenticator(server.issuer);
    const refusedWith = async (res: Response, text: string) => {
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(text);
    };
    await refusedWith(await page.register(authenticator, {}, { challenge: Buffer.from('a challenge the server never issued').toString('base64url') }), 'could not be verified');
    await refusedWith(await page.register(authenticator, {}, { origin: 'https://evil.example' }), 'could not be verified');
    await refusedWith(await page.register(authenticator, {}, { rpId: 'evil.example' }), 'could not be verified');
    await refusedWith(await page.register(authenticator, {}, { type: 'webauthn.get' }), 'could not be verified');
    await refusedWith(await page.register(authenticator, {}, { uv: false }), 'could not be verified');

    // Reused: the same answer posted twice; the first registers, the second finds no challenge.
    const credential = JSON.stringify(authenticator.register(await page.options()));
    const once = authenticator.credentials.at(-1)!;
    expect((await page.post('/account/passkeys', { name: 'Once', password: PASSWORD, credential })).status).toBe(303);
    await refusedWith(await page.post('/account/passkeys', { name: 'Twice', password: PASSWORD, credential }), 'expired or was already used');

    // Expired: five minutes and a second later.
    const late = authenticator.register(await page.options());
    clock.advance(301);
    await refusedWith(await page.post('/account/passkeys', { name: 'Late', password: PASSWORD, credential: JSON.stringify(late) }), 'expired or was already used');
    expect((await db()('webauthn_credentials').where({ account_id: user.id })).map((c) => c.name)).toEqual(['Once']);

    // The sign-in side: a forged origin, RP ID or challenge, and an assertion without user verification.
    const forged = [{ uv: false }, { origin: 'https://evil.example' }, { rpId: 'evil.example' }, { challenge: 'AAAA' }, { type: 'webauthn.create' }];
    for (const [i, over] of forged.entries()) {
      const signIn = await signInPage();
      const res = await signIn.submit(authenticator.assert(await signIn.options(), { credential: once, ...over }));
      // Each counts toward the lock-out: the fourth takes the account's last point and locks it.
      expect(res.status, JSON.stringify(over)).toBe(i < LIMIT - 1 ? 401 : 429);
      if (res.status === 429) continue;
      expect(await res.text()).toContain('The passkey could not sign you in.');
    }
    // A sign-in answer without asking for options first, and one posted twice.
    const noOptions = await signInPage();
    const orphan = await noOptions.submit(authenticator.assert({ challenge: 'AAAA' }, { credential: once }));
    expect(orphan.status).toBe(401);
    expect(await orphan.text()).toContain('expired or was already used');
    // The refusals for a known account reached the lock-out limit (4): the account is locked now.
    const locked = await signInPage();
    const lockedRes = await locked.submit(authenticator.assert(await locked.options(), { credential: once }));
    expect((await audit('login.failure', user.id)).filter((e) => e.details.method === 'passkey')).toHaveLength(LIMIT);
    expect(lockedRes.status).toBe(429);
    expect(Number(lockedRes.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await lockedRes.text()).toMatch(/Too many attempts\. Try again in \d+ minutes?\./);
  });

  it('answers hostile bodies readably: not JSON, wrong shapes, huge or deep values, NUL characters', async () => {
    await createUser(server, 'hugo');
    const page = await accountPage('hugo');
    for (const credential of ['not json', '{"id":1}', '[]', 'null', JSON.stringify({ id: 'a', rawId: 'a', type: 'public-key', response: { clientDataJSON: '!!!', attestationObject: 'x' } }), '['.repeat(5000), JSON.stringify({ id: 'A'.repeat(5000), rawId: 'A', type: 'public-key', response: { clientDataJSON: 'A', attestationObject: 'A' } })]) {
      await page.options();
      const res = await page.post('/account/passkeys', { name: 'X', password: PASSWORD, credential });
      expect(res.status, credential.slice(0, 40)).toBe(400);
      expect(res.headers.get('content-type')).toContain('text/html');
    }
    // Well-formed base64url that decodes to garbage CBOR and client data.
    await page.options();
    const garbage = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' } };
    expect((await page.post('/account/passkeys', { name: 'X', password: PASSWORD, credential: JSON.stringify(garbage) })).status).toBe(400);
    // The options request's own body.
    for (const body of ['{', '"csrf"', JSON.stringify({ csrf: { $ne: '' } }), JSON.stringify({ csrf: [page.csrf] }), JSON.stringify({ csrf: 'a\u0000b' }), '[]']) {
      const res = await postJson(page.session, '/account/passkeys/options', body);
      expect([400, 403], body).toContain(res.status);
      expect(await res.json()).toHaveProperty('error');
    }
    // The sign-in form.
    const signIn = await signInPage();
    await signIn.options();
    for (const credential of ['', 'not json', '{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"AAAA","authenticatorData":"AAAA","signature":"AAAA"}}']) {
      await signIn.options();
      const res = await signIn.submit(credential);
      expect([400, 401], credential).toContain(res.status);
      expect(res.headers.get('content-type')).toContain('text/html');
    }
    const tooLarge = await signIn.session.postForm(`${signIn.base}/passkey`, { csrf: signIn.csrf, credential: 'A'.repeat(200_000) });
    expect(tooLarge.status).toBe(413);
    const noCsrf = await signIn.session.postForm(`${signIn.base}/passkey`, { credential: '{}' });
    expect(noCsrf.status).toBe(403);
  });
});

describe('naming and removing passkeys', () => {
  it('renames and removes only the person’s own passkeys; removal needs the password and is audited', async () => {
    const owner = await createUser(server, 'erik');
    await createUser(server, 'mallory');
    const erik = await accountPage('erik');
    const mallory = await accountPage('mallory');
    const authenticator = new SoftAuthenticator(server.issuer);
    expect((await erik.register(authenticator, { name: 'Key' })).status).toBe(303);
    const [row] = await db()('webauthn_credentials').where({ account_id: owner.id });

    // Mallory names Erik's passkey by its id: refused as not hers (404), for renaming and removal alike.
    const steal = await mallory.post('/account/passkeys/remove', { id: row.id, password: PASSWORD });
    expect(steal.status).toBe(404);
    expect(await steal.text()).toContain('There is no such passkey on your account.');
    expect((await mallory.post('/account/passkeys/rename', { id: row.id, name: 'Mine now' })).status).toBe(404);
    expect((await mallory.post('/account/passkeys/remove', { id: 'not-a-uuid', password: PASSWORD })).status).toBe(400);

    expect((await erik.post('/account/passkeys/rename', { id: row.id, name: 'Yubikey' })).status).toBe(303);
    expect((await erik.post('/account/passkeys/rename', { id: row.id, name: '   ' })).status).toBe(400);
    expect((await erik.post('/account/passkeys/rename', { id: row.id, name: 'x'.repeat(65) })).status).toBe(400);
    expect((await erik.post('/account/passkeys/rename', { id: row.id, name: '<img src=x onerror=alert(1)>' })).status).toBe(303);
    const escaped = await erik.page();
    expect(escaped).not.toContain('<img src=x');
    expect(escaped).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect((await erik.post('/account/passkeys/rename', { id: row.id, name: 'Yubikey' })).status).toBe(303);
    expect(await erik.page()).toContain('<strong>Yubikey</strong>');

    const noPassword = await erik.post('/account/passkeys/remove', { id: row.id, password: 'wrong' });
    expect(noPassword.status).toBe(401);
    expect(await db()('webauthn_credentials').where({ id: row.id })).toHaveLength(1);
    const removed = await erik.post('/account/passkeys/remove', { id: row.id, password: PASSWORD });
    expect(removed.status).toBe(303);
    expect(await db()('webauthn_credentials').where({ id: row.id })).toHaveLength(0);
    expect((await audit('passkey.removed', owner.id)).map((e) => e.details.name)).toEqual(['Yubikey']);
    expect(await erik.page()).toContain('You have no passkeys yet.');

    // The removed passkey signs no one in.
    const signIn = await signInPage();
    const res = await signIn.submit(authenticator.assert(await signIn.options()));
    expect(res.status).toBe(401);
  });

  it('refuses a cloned counter (the stored counter not exceeded) and audits it', async () => {
    const user = await createUser(server, 'clara');
    const page = await accountPage('clara');
    const authenticator = new SoftAuthenticator(server.issuer);
    expect((await page.register(authenticator)).status).toBe(303);
    const first = await signInPage();
    expect((await first.submit(authenticator.assert(await first.options(), { counter: 7 }))).status).toBe(303);
    const [row] = await db()('webauthn_credentials').where({ account_id: user.id });
    expect(Number(row.counter)).toBe(7);
    for (const counter of [7, 3, 0]) {
      const again = await signInPage();
      const res = await again.submit(authenticator.assert(await again.options(), { counter }));
      expect(res.status, `counter ${counter}`).toBe(401);
    }
    const clones = await audit('passkey.cloned', user.id);
    expect(clones).toHaveLength(3);
    expect(clones[0].details).toMatchObject({ storedCounter: 7 });
    const next = await signInPage();
    expect((await next.submit(authenticator.assert(await next.options(), { counter: 8 }))).status).toBe(303);
  });
});

describe('passkeys as a second factor (service functions for the second-factor step)', () => {
  it('offers the account’s own passkeys, verifies one of them and returns its amr; refuses another account’s', async () => {
    const user = await createUser(server, 'theo');
    const other = await createUser(server, 'ursula');
    const theo = new SoftAuthenticator(server.issuer, { uv: false });
    const ursula = new SoftAuthenticator(server.issuer);
    const theoPage = await accountPage('theo');
    // Registration requires user verification, so theo's authenticator verifies for that one ceremony.
    expect((await theoPage.register(theo, {}, { uv: true })).status).toBe(303);
    expect((await (await accountPage('ursula')).register(ursula)).status).toBe(303);
    const from = { ip: '192.0.2.1', userAgent: 'test' };

    expect(await passkeySecondFactorOptions(server.operations, (await createUser(server, 'nobody')).id, 'b0')).toBeUndefined();
    const options = await passkeySecondFactorOptions(server.operations, user.id, 'interaction-1');
    expect(options?.allowCredentials?.map((c) => c.id)).toEqual([theo.credentials[0]!.id.toString('base64url')]);
    // Without user verification: a second factor needs possession only.
    const ok = await verifyPasskeySecondFactor(server.operations, user.id, 'interaction-1', JSON.stringify(theo.assert(options!)), from);
    expect(ok).toEqual({ ok: true, amr: ['hwk', 'user'] });
    // Used once: the same binding has no challenge any more.
    const reused = await verifyPasskeySecondFactor(server.operations, user.id, 'interaction-1', JSON.stringify(theo.assert(options!)), from);
    expect(reused).toMatchObject({ ok: false, reason: 'no_challenge' });
    // Ursula's passkey for Theo's step: refused.
    const forTheo = await passkeySecondFactorOptions(server.operations, user.id, 'interaction-2');
    const foreign = await verifyPasskeySecondFactor(server.operations, user.id, 'interaction-2', JSON.stringify(ursula.assert(forTheo!)), from);
    expect(foreign).toMatchObject({ ok: false, reason: 'unknown_credential' });
    // A challenge issued for Ursula does not serve Theo.
    const forUrsula = await passkeySecondFactorOptions(server.operations, other.id, 'interaction-3');
    const crossed = await verifyPasskeySecondFactor(server.operations, user.id, 'interaction-3', JSON.stringify(theo.assert(forUrsula!)), from);
    expect(crossed).toMatchObject({ ok: false, reason: 'no_challenge' });

    // An operator's reset removes every passkey of the one account, audited.
    expect(await removeAllPasskeys(server.operations, user.id, 'operator')).toBe(1);
    expect(await listPasskeys(server.operations, user.id)).toEqual([]);
    expect(await listPasskeys(server.operations, other.id)).toHaveLength(1);
    expect((await audit('passkey.removed', user.id)).at(-1).details).toMatchObject({ all: true, count: 1, by: 'operator' });
    expect(await passkeySecondFactorOptions(server.operations, user.id, 'interaction-4')).toBeUndefined();
  });
});

describe('a passkey as the second factor after a password, through the real sign-in step', () => {
  /** An authorization request from the test client, the password posted: the answer to the sign-in form. */
  async function passwordFirst(username: string) {
    const { session, html, finish } = await startAuthorization();
    const answer = await session.postForm(formAction(html), { csrf: csrfField(html), username, password: PASSWORD });
    return { session, answer, finish };
  }

  it('asks a person holding a passkey for it after the password; the ID token says pwd, the key, mfa and the MFA level', async () => {
    await createUser(server, 'vera');
    const authenticator = new SoftAuthenticator(server.issuer);
    expect((await (await accountPage('vera')).register(authenticator)).status).toBe(303);

    const { session, answer, finish } = await passwordFirst('vera');
    expect(answer.status).toBe(303);
    const stepPath = answer.headers.get('location')!;
    expect(stepPath).toMatch(/\/interaction\/[^/]+\/second-factor$/);
    const html = await (await session.request(stepPath)).text();
    expect(html).toContain('data-passkey="second-factor"');
    expect(html).toContain('src="/assets/passkeys.js"');
    const optionsPath = /data-options="([^"]+)"/.exec(html)![1]!;
    const csrf = csrfField(html);
    // Options only with the page's CSRF token.
    expect((await postJson(session, optionsPath, { csrf: 'forged' })).status).toBe(403);
    const options = (await (await postJson(session, optionsPath, { csrf })).json()) as { challenge: string; allowCredentials: Array<{ id: string }> };
    expect(options.allowCredentials.map((c) => c.id)).toEqual([authenticator.credentials[0]!.id.toString('base64url')]);

    // A made-up answer: a readable page (401), nothing finished; the real one then finishes the sign-in.
    const wrong = await session.postForm(stepPath + '/passkey', { csrf, credential: '{"id":"nope"}' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('data-passkey="second-factor"');
    const fresh = (await (await postJson(session, optionsPath, { csrf })).json()) as { challenge: string };
    const done = await session.postForm(stepPath + '/passkey', { csrf, credential: JSON.stringify(authenticator.assert(fresh)) });
    const claims = await finish(done);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'user', 'mfa']));
    expect(claims.acr).toBe('urn:tessera:acr:mfa');
  });

  it('does not let the password alone finish the sign-in, nor a passkey answer without a challenge from this step', async () => {
    await createUser(server, 'walt');
    const authenticator = new SoftAuthenticator(server.issuer);
    expect((await (await accountPage('walt')).register(authenticator)).status).toBe(303);
    const { session, answer } = await passwordFirst('walt');
    const stepPath = answer.headers.get('location')!;
    const html = await (await session.request(stepPath)).text();
    // An assertion made for a challenge the server never gave.
    const forged = await session.postForm(stepPath + '/passkey', { csrf: csrfField(html), credential: JSON.stringify(authenticator.assert({ challenge: Buffer.from('made up').toString('base64url') })) });
    expect(forged.status).toBe(401);
    // Resuming the engine's authorization without the step signs nobody in: the sign-in form again.
    const uid = stepPath.split('/')[2]!;
    const resumed = await session.request(`/auth/${uid}`);
    expect(resumed.status).toBeLessThan(500);
    expect((await audit('login.failure')).some((e) => e.details?.via === 'second-factor:passkey' || e.details?.step === 'second-factor')).toBe(true);
  });
});

describe('page guarantees', () => {
  it('the sign-in and account pages carry a CSRF token in every form, load the script from /assets only, under a CSP without inline script', async () => {
    await createUser(server, 'gina');
    const page = await accountPage('gina');
    expect((await page.register(new SoftAuthenticator(server.issuer))).status).toBe(303);
    const accountRes = await page.session.request('/account');
    const signIn = await signInPage();
    const loginRes = await signIn.session.request(signIn.base);
    for (const res of [accountRes, loginRes]) {
      const html = await res.text();
      const forms = html.match(/<form[\s\S]*?<\/form>/g) ?? [];
      expect(forms.length).toBeGreaterThan(1);
      for (const form of forms) if (/method="post"/.test(form)) expect(form).toMatch(/name="csrf" value="[A-Za-z0-9_-]{43}"/);
      expect(html.match(/<script[^>]*>/g)).toEqual(['<script src="/assets/passkeys.js" defer>']);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
    }
    const script = await fetch(`${server.issuer}/assets/passkeys.js`);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect(await script.text()).toContain("mediation: 'conditional'");
  });
});

describe('no fault', () => {
  it('answered none of the requests above with a 500', () => {
    const faults = server.logs.filter((line) => /"status":5\d\d|unhandled error/.test(line));
    expect(faults).toEqual([]);
  });
});
