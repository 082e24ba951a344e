// Password reset, email verification and account notices over real SMTP: an SMTP server in this process
// receives what Tessera sends (test/helpers/smtp.ts), and the tests follow the links through the real pages
// with a BrowserSession, a real OAuth client (openid-client) and the manual clock for expiries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { manualClock, startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, exchange, REDIRECT_URI } from '../helpers/oauth.ts';
import { startRelyingParty, type RelyingParty } from '../helpers/relying-party.ts';
import { linkIn, startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.ts';
import { runOperation } from '../../src/services/operations.ts';
import { listAuditEvents } from '../../src/store/audit.ts';
import { noticeAccountChange } from '../../src/services/account-notices.ts';

let server: TestServer;
let smtp: TestSmtpServer;
let rp: RelyingParty;
const clock = manualClock();
let ipCounter = 0;
/** Each test asks from its own address (TRUST_PROXY), so the per-IP limit of one does not touch another. */
const freshIp = () => `198.51.100.${++ipCounter}`;

beforeAll(async () => {
  smtp = await startSmtpServer();
  rp = await startRelyingParty();
  server = await startTestServer({ clock, env: { SMTP_URL: smtp.url, MAIL_FROM: 'Tessera Test <accounts@example.test>', SELF_REGISTRATION: 'true', TRUST_PROXY: 'true' } });
});
afterAll(async () => {
  if (process.env.DUMP_LOGS) console.log(server?.logs.join(''));
  await server?.stop();
  await smtp?.close();
  await rp?.close();
});

/** A browser that always comes from `ip`. */
function browserFrom(ip: string): BrowserSession {
  return new BrowserSession(server.issuer, { fetch: (url, init) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), 'x-forwarded-for': ip } }) });
}

async function page(session: BrowserSession, url: string) {
  const res = await session.request(url);
  return { res, html: await res.text() };
}

/** "Forgot password?" standalone: the answer (status and page) for `identifier`. */
async function askForReset(session: BrowserSession, identifier: string) {
  const form = await page(session, '/password/forgot');
  expect(form.res.status).toBe(200);
  const res = await session.postForm('/password/forgot', { csrf: csrfField(form.html), identifier });
  return res;
}

async function resetWith(session: BrowserSession, link: string, password: string) {
  const form = await page(session, link);
  expect(form.res.status, form.html.slice(0, 400)).toBe(200);
  return session.postForm(formAction(form.html), { csrf: csrfField(form.html), token: new URL(link).searchParams.get('token')!, password });
}

const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;
const seenTokens: string[] = [];
function remember(mail: ReceivedMail, path: string): string {
  const link = linkIn(mail, path);
  seenTokens.push(tokenOf(link));
  return link;
}

function expectPageGuarantees(res: Response) {
  expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(res.headers.get('cache-control')).toContain('no-store');
}

async function signedIn(username: string, password: string, backchannel = false) {
  const client = await createClient(server, { name: 'Reset App', ...(backchannel ? { backchannelLogoutUri: `${rp.url}/backchannel` } : {}) });
  const config = await discover(server, client);
  const session = new BrowserSession(server.issuer);
  const tokens = await exchange(config, await authorize(server, config, session, { username, password }));
  return { client, config, session, tokens };
}

describe('password reset by email', () => {
  it('sends a single-use link over SMTP that sets the new password, ends sessions, revokes grants and tells the person', async () => {
    await createUser(server, 'rita', 'old password 123');
    const before = await signedIn('rita', 'old password 123', true);
    expect((await oidc.tokenIntrospection(before.config, before.tokens.access_token)).active).toBe(true);

    const browser = browserFrom(freshIp());
    const asked = await askForReset(browser, 'rita');
    expect(asked.status).toBe(303);
    expect(asked.headers.get('location')).toBe('/password/forgot?sent=1');
    const mail = await smtp.next('rita@example.test');
    expect(mail.headers.from).toBe('Tessera Test <accounts@example.test>');
    expect(mail.subject).toBe('Tessera: Reset your password');
    expect(mail.headers['content-type']).toMatch(/^multipart\/alternative/);
    const link = remember(mail, '/password/reset');
    expect(link.startsWith(`${server.issuer}/password/reset?token=`)).toBe(true);
    expect(mail.html).toContain(link.replaceAll('&', '&amp;'));
    expect(mail.text).toContain('30 minutes');

    const form = await page(browser, link);
    expect(form.res.status).toBe(200);
    expectPageGuarantees(form.res);
    expect(form.html).toContain('name="csrf"');
    expect(form.html).toContain('rita');

    const done = await resetWith(browser, link, 'new password 456');
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/password/reset/done');
    const donePage = await page(browser, done.headers.get('location')!);
    expect(donePage.html).toContain('Password changed');

    // Same effects as set-password: grants revoked, sessions ended with back-channel logout.
    expect((await oidc.tokenIntrospection(before.config, before.tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(before.config, before.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [logoutToken] = await rp.waitForLogoutTokens(1);
    const { payload } = await jwtVerify(logoutToken!, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience: before.client.client_id });
    expect(payload.sub).toBe(before.tokens.claims()!.sub);

    await expect(signedIn('rita', 'old password 123')).rejects.toThrow();
    expect((await signedIn('rita', 'new password 456')).tokens.access_token).toBeTruthy();

    const notice = await smtp.next('rita@example.test');
    expect(notice.subject).toBe('Tessera: A change to your account');
    expect(notice.text).toContain('reset with a link sent to this address');

    const account = await runOperation(server.operations, 'user.show', { user: 'rita' });
    const audit = await listAuditEvents(server.runtime.db, { accountId: account.id });
    expect(audit.map((e) => e.type)).toEqual(expect.arrayContaining(['user.password_reset_requested', 'user.password_reset']));
    expect(audit.find((e) => e.type === 'user.password_reset')?.ip).toBeTruthy();

    // Used once: the same link again is refused, on the page and on a replayed POST.
    const again = await page(browser, link);
    expect(again.res.status).toBe(400);
    expect(again.html).toContain('This link cannot be used');
    const replay = await browser.postForm('/password/reset', { csrf: csrfField(form.html), token: tokenOf(link), password: 'third password 789' });
    expect(replay.status).toBe(400);
    expect((await signedIn('rita', 'new password 456')).tokens.access_token).toBeTruthy();
  });

  it('answers an unknown name or address exactly as a known one, and sends nothing', async () => {
    await createUser(server, 'uma');
    const browser = browserFrom(freshIp());
    await server.operations.mailer!.idle();
    const sentBefore = smtp.received.length;
    const answers = [];
    for (const identifier of ['nobody-here', 'nobody@example.test', 'uma']) {
      const res = await askForReset(browser, identifier);
      answers.push({ status: res.status, location: res.headers.get('location'), body: await res.text() });
    }
    expect(answers[0]).toEqual(answers[2]);
    expect(answers[1]).toEqual(answers[2]);
    const sent = await page(browser, answers[0]!.location!);
    expect(sent.html).toContain('If the name or address you entered belongs to an account');
    await server.operations.mailer!.idle();
    expect(smtp.received.slice(sentBefore).map((m) => m.to)).toEqual([['uma@example.test']]);
    remember(await smtp.next('uma@example.test'), '/password/reset');
  });

  it('finds the account by its email address too, case-insensitively', async () => {
    await createUser(server, 'ezra');
    expect((await askForReset(browserFrom(freshIp()), 'EZRA@Example.TEST')).status).toBe(303);
    remember(await smtp.next('ezra@example.test'), '/password/reset');
  });

  it('refuses a link after 30 minutes (the injected clock)', async () => {
    await createUser(server, 'olga', 'old password 123');
    const browser = browserFrom(freshIp());
    await askForReset(browser, 'olga');
    const link = remember(await smtp.next('olga@example.test'), '/password/reset');
    const form = await page(browser, link);
    expect(form.res.status).toBe(200);
    clock.advance(31 * 60);
    expect((await page(browser, link)).res.status).toBe(400);
    const late = await browser.postForm('/password/reset', { csrf: csrfField(form.html), token: tokenOf(link), password: 'new password 456' });
    expect(late.status).toBe(400);
    expect((await signedIn('olga', 'old password 123')).tokens.access_token).toBeTruthy();
  });

  it('lets exactly one of two simultaneous uses of a link through', async () => {
    await createUser(server, 'duo');
    const browser = browserFrom(freshIp());
    await askForReset(browser, 'duo');
    const link = remember(await smtp.next('duo@example.test'), '/password/reset');
    const form = await page(browser, link);
    const fields = (password: string) => ({ csrf: csrfField(form.html), token: tokenOf(link), password });
    const answers = await Promise.all([browser.postForm('/password/reset', fields('first of two 123')), browser.postForm('/password/reset', fields('second of two 456'))]);
    expect(answers.map((r) => r.status).sort()).toEqual([303, 400]);
    const winner = answers[0]!.status === 303 ? 'first of two 123' : 'second of two 456';
    expect((await signedIn('duo', winner)).tokens.access_token).toBeTruthy();
    const account = await runOperation(server.operations, 'user.show', { user: 'duo' });
    expect(await listAuditEvents(server.runtime.db, { accountId: account.id, type: 'user.password_reset' })).toHaveLength(1);
  });

  it('makes a link stop working when an operator sets the password meanwhile', async () => {
    await createUser(server, 'opal');
    const browser = browserFrom(freshIp());
    await askForReset(browser, 'opal');
    const link = remember(await smtp.next('opal@example.test'), '/password/reset');
    await runOperation(server.operations, 'user.set-password', { user: 'opal', password: 'operator chose 123' });
    expect((await page(browser, link)).res.status).toBe(400);
    expect((await smtp.next('opal@example.test')).text).toContain('The password of your account was changed.');
  });

  it('makes an earlier link stop working when a newer one is sent', async () => {
    await createUser(server, 'nils');
    const browser = browserFrom(freshIp());
    await askForReset(browser, 'nils');
    const first = remember(await smtp.next('nils@example.test'), '/password/reset');
    await askForReset(browser, 'nils');
    const second = remember(await smtp.next('nils@example.test'), '/password/reset');
    expect((await page(browser, first)).res.status).toBe(400);
    expect((await page(browser, second)).res.status).toBe(200);
  });

  it('keeps the link usable when the new password is refused, and says why', async () => {
    await createUser(server, 'pia');
    const browser = browserFrom(freshIp());
    await askForReset(browser, 'pia');
    const link = remember(await smtp.next('pia@example.test'), '/password/reset');
    const short = await resetWith(browser, link, 'short');
    expect(short.status).toBe(422);
    const html = await short.text();
    expect(html).toMatch(/role="alert">password must be at least 8 characters/);
    expect(html).toContain('name="csrf"');
    expect((await resetWith(browser, link, 'long enough password')).status).toBe(303);
  });

  it('throttles requests per name and per IP address, alike for unknown names', async () => {
    const browser = browserFrom(freshIp());
    for (let i = 1; i <= 5; i++) expect((await askForReset(browser, 'no-such-person')).status, `request ${i}`).toBe(303);
    const sixth = await askForReset(browser, 'No-Such-Person');
    expect(sixth.status).toBe(429);
    expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await sixth.text()).toMatch(/role="alert">Too many requests\. Try again in \d+ minutes?\./);
    // From elsewhere, the same name is limited too (the limit is on the name, not only the address).
    expect((await askForReset(browserFrom(freshIp()), 'no-such-person')).status).toBe(429);

    const busy = browserFrom(freshIp());
    const statuses = [];
    for (let i = 0; i < 21; i++) statuses.push((await askForReset(busy, `someone-${i}`)).status);
    expect(statuses.slice(0, 20).every((s) => s === 303)).toBe(true);
    expect(statuses[20]).toBe(429);
  });

  it('sends an account at most 5 links an hour, however it is named, with the usual answer', async () => {
    await createUser(server, 'abby');
    const names = ['abby', 'ABBY', 'abby@example.test', 'Abby@Example.Test', 'abby', 'abby@example.test'];
    for (const name of names) expect((await askForReset(browserFrom(freshIp()), name)).status).toBe(303);
    await server.operations.mailer!.idle();
    const links = smtp.received.filter((m) => m.to.includes('abby@example.test'));
    expect(links).toHaveLength(5);
    for (let i = 0; i < 5; i++) remember(await smtp.next('abby@example.test'), '/password/reset');
  });

  it('refuses a form without the CSRF token', async () => {
    await createUser(server, 'cato');
    const browser = browserFrom(freshIp());
    await page(browser, '/password/forgot');
    const res = await browser.postForm('/password/forgot', { identifier: 'cato', csrf: 'x'.repeat(43) });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('the form expired or was not sent by this site');

    await askForReset(browser, 'cato');
    const link = remember(await smtp.next('cato@example.test'), '/password/reset');
    const other = browserFrom(freshIp());
    const forged = await other.postForm('/password/reset', { token: tokenOf(link), password: 'attacker password 1' });
    expect(forged.status).toBe(403);
    expect((await resetWith(browser, link, 'cato password 123')).status).toBe(303);
  });

  it('answers hostile input with readable pages, never a 500', async () => {
    const browser = browserFrom(freshIp());
    const form = await page(browser, '/password/forgot');
    const csrf = csrfField(form.html);
    for (const identifier of ['\u0007bell', 'a'.repeat(5000), '<script>alert(1)</script>', "' OR 1=1 --", 'x@'.repeat(200)]) {
      const res = await browser.postForm('/password/forgot', { csrf, identifier });
      expect([303, 429]).toContain(res.status);
    }
    const nul = await browser.request('/password/forgot', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${csrf}&identifier=a%00b` });
    expect(nul.status).toBe(400);
    for (const query of ['', '?token=', '?token=abc', '?token=a&token=b', `?token=${'A'.repeat(43)}`, '?token=%ZZ', `?token=${'x'.repeat(3000)}`]) {
      const res = await browser.request(`/password/reset${query}`);
      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toContain('text/html');
    }
    const bogus = await browser.postForm('/password/reset', { csrf, token: 'A'.repeat(43), password: 'whatever password' });
    expect(bogus.status).toBe(400);
    const noToken = await browser.postForm('/password/reset', { csrf, password: 'whatever password' });
    expect(noToken.status).toBe(400);
    const done = await browser.request('/password/reset/done?interaction=../../etc');
    expect(done.status).toBe(200);
    expect(await done.text()).not.toContain('etc');
    expect((await browser.request('/password/forgot?sent=<b>')).status).toBe(200);
    // A sign-in that does not exist (or is not this browser's): a readable 4xx page, never a 500.
    for (const uid of ['nope', 'a'.repeat(21), '%E2%80%AE']) {
      const get = await browser.request(`/interaction/${uid}/forgot`);
      expect(get.status, uid).toBeGreaterThanOrEqual(400);
      expect(get.status, uid).toBeLessThan(500);
      const post = await browser.postForm(`/interaction/${uid}/forgot`, { csrf, identifier: 'someone' });
      expect(post.status, uid).toBeGreaterThanOrEqual(400);
      expect(post.status, uid).toBeLessThan(500);
    }
    expect(server.logs.some((l) => l.includes('"unhandled error"'))).toBe(false);
  });

  it('offers "Forgot password?" on the sign-in page and leads back to that sign-in afterwards', async () => {
    await createUser(server, 'ines', 'old password 123');
    const client = await createClient(server, { name: 'Interaction App' });
    const config = await discover(server, client);
    const browser = browserFrom(freshIp());
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 's',
    });
    const login = await browser.follow(url);
    const loginHtml = await login.res.text();
    const forgotHref = /href="(\/interaction\/[^"]+\/forgot)"/.exec(loginHtml)?.[1];
    expect(forgotHref).toBeTruthy();
    const forgot = await page(browser, forgotHref!);
    expectPageGuarantees(forgot.res);
    expect(forgot.html).toContain(`href="${login.url.pathname}"`);
    const asked = await browser.postForm(formAction(forgot.html), { csrf: csrfField(forgot.html), identifier: 'ines' });
    expect(asked.status).toBe(303);
    expect(asked.headers.get('location')).toBe(`${forgotHref}?sent=1`);

    const link = remember(await smtp.next('ines@example.test'), '/password/reset');
    const done = await resetWith(browser, link, 'new password 456');
    expect(done.status).toBe(303);
    const donePage = await page(browser, done.headers.get('location')!);
    const back = /<a class="button" href="([^"]+)">Continue signing in/.exec(donePage.html)?.[1];
    expect(back).toBe(login.url.pathname);

    const again = await page(browser, back!);
    const res = await browser.postForm(formAction(again.html), { csrf: csrfField(again.html), username: 'ines', password: 'new password 456' });
    expect(res.status).toBe(303);
    let step = await browser.follow(res.headers.get('location')!);
    if (step.url.origin === server.issuer) {
      const consent = await step.res.text();
      step = await browser.follow((await browser.postForm(formAction(consent), { csrf: csrfField(consent), remember: '1' })).headers.get('location')!);
    }
    expect(step.url.origin + step.url.pathname).toBe(REDIRECT_URI);
    expect(step.url.searchParams.get('code')).toBeTruthy();
  });
});

describe('email verification', () => {
  async function register(browser: BrowserSession, username: string, email: string) {
    const client = await createClient(server, { name: 'Signup App' });
    const config = await discover(server, client);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 's',
    });
    const login = await browser.follow(url);
    const registerPage = await page(browser, /href="([^"]+\/register)"/.exec(await login.res.text())![1]!);
    expect(registerPage.html).toContain('we send you a link to confirm it');
    const res = await browser.postForm(formAction(registerPage.html), { csrf: csrfField(registerPage.html), username, email, password: 'register password 1' });
    expect(res.status).toBe(303);
    // The new account is signed in once the engine resumes (the consent page follows).
    await browser.follow(res.headers.get('location')!);
  }

  it('sends a link after self-registration; email_verified stays false until it is used, once', async () => {
    const browser = browserFrom(freshIp());
    await register(browser, 'vera', 'vera@example.test');
    expect((await runOperation(server.operations, 'user.show', { user: 'vera' })).email_verified).toBe(false);
    const mail = await smtp.next('vera@example.test');
    expect(mail.subject).toBe('Tessera: Confirm your email address');
    const link = remember(mail, '/email/verify');

    // Opening the link changes nothing (mail scanners follow links): one click does.
    const form = await page(browser, link);
    expect(form.res.status).toBe(200);
    expectPageGuarantees(form.res);
    expect(form.html).toContain('vera@example.test');
    expect((await runOperation(server.operations, 'user.show', { user: 'vera' })).email_verified).toBe(false);
    const confirmed = await browser.postForm(formAction(form.html), { csrf: csrfField(form.html), token: tokenOf(link) });
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.get('location')).toBe('/email/verified');
    expect((await runOperation(server.operations, 'user.show', { user: 'vera' })).email_verified).toBe(true);

    expect((await page(browser, link)).res.status).toBe(400);
    expect((await browser.postForm('/email/verify', { csrf: csrfField(form.html), token: tokenOf(link) })).status).toBe(400);
    const audit = await listAuditEvents(server.runtime.db, { type: 'user.email_verified' });
    expect(audit.length).toBeGreaterThan(0);
  });

  it('refuses a verification link after 24 hours, and one sent to an address the account no longer has', async () => {
    const browser = browserFrom(freshIp());
    await register(browser, 'walt', 'walt@example.test');
    const link = remember(await smtp.next('walt@example.test'), '/email/verify');
    clock.advance(24 * 3600 + 60);
    expect((await page(browser, link)).res.status).toBe(400);

    await register(browserFrom(freshIp()), 'xena', 'xena@example.test');
    const xenaLink = remember(await smtp.next('xena@example.test'), '/email/verify');
    await runOperation(server.operations, 'user.update', { user: 'xena', email: 'xena-new@example.test' });
    expect((await page(browser, xenaLink)).res.status).toBe(400);
    expect((await runOperation(server.operations, 'user.show', { user: 'xena' })).email_verified).toBe(false);
  });

  it('sends the link again from the account page (signed in, CSRF-checked, throttled); the earlier link stops working', async () => {
    const browser = browserFrom(freshIp());
    await register(browser, 'yuri', 'yuri@example.test');
    const first = remember(await smtp.next('yuri@example.test'), '/email/verify');
    // The registration signed this browser in: the account page offers to send the link again.
    const signIn = await browser.follow('/account/sign-in');
    if (signIn.url.origin === server.issuer && signIn.url.pathname !== '/account') {
      const html = await signIn.res.text();
      await browser.follow((await browser.postForm(formAction(html), { csrf: csrfField(html), remember: '1' })).headers.get('location')!);
    }
    const account = await page(browser, '/account');
    expect(account.html).toContain('Send the confirmation link again');
    expect((await browser.postForm('/account/email/verification', { csrf: 'y'.repeat(43) })).status).toBe(403);
    const resent = await browser.postForm('/account/email/verification', { csrf: csrfField(account.html) });
    expect(resent.status).toBe(303);
    expect(resent.headers.get('location')).toBe('/email/verification-sent');
    const second = remember(await smtp.next('yuri@example.test'), '/email/verify');
    expect((await page(browser, first)).res.status).toBe(400);
    expect((await page(browser, second)).res.status).toBe(200);

    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await browser.postForm('/account/email/verification', { csrf: csrfField(account.html) })).status);
    expect(statuses.at(-1)).toBe(429);
    await server.operations.mailer!.idle();
    for (const m of smtp.received.filter((r) => r.to.includes('yuri@example.test'))) remember(m, '/email/verify');
  });
});

describe('account notices', () => {
  it('tells the person when an operator sets their password', async () => {
    await createUser(server, 'tom');
    await runOperation(server.operations, 'user.set-password', { user: 'tom', password: 'operator set 123' });
    const notice = await smtp.next('tom@example.test');
    expect(notice.text).toContain('The password of your account was changed.');
    expect(notice.text).toContain('Account: tom');
  });

  it('names a factor safely: escaped in HTML, one plain line in text', async () => {
    const tara = await createUser(server, 'tara');
    await runOperation(server.operations, 'user.update', { user: 'tara', name: 'Tara\n\nUrgent: call 555' });
    noticeAccountChange(server.operations, tara.id, 'factor_added', { factorKind: 'passkey', factorName: '<b>Key</b>\r\nBcc: evil@example.test' });
    const notice = await smtp.next('tara@example.test');
    expect(notice.html).toContain('passkey &quot;&lt;b&gt;Key&lt;/b&gt;  Bcc: evil@example.test&quot;');
    expect(notice.text).toContain('A passkey "<b>Key</b>  Bcc: evil@example.test" was added');
    expect(notice.text).toContain('Hello Tara  Urgent: call 555,');
    expect(notice.to).toEqual(['tara@example.test']);
    expect(notice.headers.bcc).toBeUndefined();
  });

  it('retries a delivery the mail server refused for now, without failing the change', async () => {
    const tess = await createUser(server, 'tess');
    smtp.failNext(1);
    noticeAccountChange(server.operations, tess.id, 'recovery_codes_regenerated');
    const notice = await smtp.next('tess@example.test');
    expect(notice.text).toContain('New recovery codes were made');
    expect(server.logs.some((l) => l.includes('will retry'))).toBe(true);
  });
});

describe('logs', () => {
  it('never contain a link or its token', async () => {
    await server.operations.mailer!.idle();
    expect(seenTokens.length).toBeGreaterThan(10);
    const all = server.logs.join('\n');
    for (const token of seenTokens) expect(all).not.toContain(token);
    expect(all).not.toContain('token=');
  });
});
