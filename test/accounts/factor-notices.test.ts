// Issue 17's seams between two-factor sign-in, passkeys and email: every change to a person's factors is
// told to them by email (an SMTP server in this process receives it, test/helpers/smtp.ts), with no code,
// secret or key in the message or the log; and operators see, remove and reset passkeys with the other
// factors (`tessera user factors|reset-mfa`, /admin/v1/users/{user}/factors).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { TOTP, Secret } from 'otpauth';
import { manualClock, startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { authorize, createClient, createUser, discover, REDIRECT_URI } from '../helpers/oauth.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { createStorage, runCliInProcess } from '../helpers/cli.ts';
import { adminApi, adminClient, adminToken } from '../admin/helpers.ts';
import { listAuditEvents } from '../../src/store/audit.ts';

const PASSWORD = 'correct horse battery';
const clock = manualClock(new Date('2026-12-01T12:00:00Z'));
let server: TestServer;
let smtp: TestSmtpServer;
let config: oidc.Configuration;
/** Everything that must never appear in a mail or the log: TOTP secrets and codes, recovery codes, key ids. */
const secrets: string[] = [];

beforeAll(async () => {
  smtp = await startSmtpServer();
  server = await startTestServer({ clock, env: { SMTP_URL: smtp.url, MAIL_FROM: 'Tessera Test <accounts@example.test>', LOGIN_MAX_FAILURES_PER_IP: '10000' } });
  config = await discover(server, await createClient(server, { name: 'Notices App', firstParty: true }));
});
afterAll(async () => {
  if (process.env.DUMP_LOGS) console.log(server?.logs.join(''));
  await server?.stop();
  await smtp?.close();
});
beforeEach(async () => {
  await server.runtime.db('login_attempts').delete();
});

const codeFor = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: clock.now().getTime() });
const mailOf = (username: string) => `${username}@example.test`;

/** The form on `html` whose action contains `path`. */
function actionContaining(html: string, path: string): string {
  const actions = [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
  const found = actions.find((a) => a.includes(path));
  if (!found) throw new Error(`no form for ${path} in page: ${html.slice(0, 400)}`);
  return found;
}

/** A person signed in with the password through the test client, on their account page. */
async function accountSession(username: string) {
  const session = new BrowserSession(server.issuer);
  await authorize(server, config, session, { username, scope: 'openid' });
  const page = async () => (await session.request('/account')).text();
  return { session, page };
}

/** Enrols an authenticator app on the account page: the secret, the code used and the recovery codes shown. */
async function enrolTotp(session: BrowserSession) {
  const account = await (await session.request('/account')).text();
  const start = await session.postForm(actionContaining(account, '/account/two-step/totp/start'), { csrf: csrfField(account) });
  expect(start.status).toBe(303);
  const setup = await (await session.request(start.headers.get('location')!)).text();
  const secret = setup.match(/<code>([A-Z2-7]+)<\/code>/)![1]!;
  const factor = setup.match(/name="factor" value="([^"]+)"/)![1]!;
  const code = codeFor(secret);
  const confirm = await session.postForm('/account/two-step/totp/confirm', { csrf: csrfField(setup), factor, code, password: PASSWORD });
  expect(confirm.status).toBe(303);
  const shown = await (await session.request(confirm.headers.get('location')!)).text();
  const codes = [...shown.matchAll(/<li><code>([0-9A-Z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
  expect(codes).toHaveLength(10);
  // (The six-digit code is left out: six digits may turn up anywhere by chance; it is spent besides.)
  secrets.push(secret, ...codes);
  clock.advance(30);
  return { secret, codes };
}

/** The mail contains none of the secrets seen so far, in any part. */
function expectNoSecrets(mail: ReceivedMail) {
  for (const s of secrets) expect(mail.raw).not.toContain(s);
}

describe('notices for factor changes', () => {
  it('tells the person when an authenticator app is enrolled (once, not also for its first recovery codes)', async () => {
    await createUser(server, 'nina');
    const { session } = await accountSession('nina');
    await enrolTotp(session);
    const notice = await smtp.next(mailOf('nina'));
    expect(notice.subject).toBe('Tessera: A change to your account');
    expect(notice.text).toContain('An authenticator app was added to your account for signing in.');
    expectNoSecrets(notice);
    await server.operations.mailer!.idle();
    expect(smtp.received.filter((m) => m.to.includes(mailOf('nina')))).toHaveLength(1);
  });

  it('tells the person when recovery codes are made anew, and when one is used to sign in', async () => {
    await createUser(server, 'otto');
    const { session, page } = await accountSession('otto');
    await enrolTotp(session);
    await smtp.next(mailOf('otto'));
    // New recovery codes on the account page (the session used the app when enrolling it).
    const account = await page();
    const made = await session.postForm(actionContaining(account, '/account/two-step/recovery-codes'), { csrf: csrfField(account), password: PASSWORD });
    expect(made.status).toBe(303);
    const shown = await (await session.request(made.headers.get('location')!)).text();
    const codes = [...shown.matchAll(/<li><code>([0-9A-Z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);
    secrets.push(...codes);
    const regenerated = await smtp.next(mailOf('otto'));
    expect(regenerated.text).toContain('New recovery codes were made for your account; the earlier ones no longer work.');
    expectNoSecrets(regenerated);

    // A recovery code at the second-factor step of a sign-in.
    const flow = new BrowserSession(server.issuer);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const login = await (await flow.follow(url)).res.text();
    const afterPassword = await flow.postForm(formAction(login), { csrf: csrfField(login), username: 'otto', password: PASSWORD });
    expect(afterPassword.status).toBe(303);
    const step = await (await flow.follow(afterPassword.headers.get('location')!)).res.text();
    const used = await flow.postForm(actionContaining(step, '/second-factor/recovery-code'), { csrf: csrfField(step), code: codes[0]! });
    expect(used.status).toBe(303);
    const notice = await smtp.next(mailOf('otto'));
    expect(notice.text).toContain('A recovery code was used to sign in to your account. It cannot be used again.');
    expectNoSecrets(notice);
  });

  it('tells the person when they remove their authenticator app', async () => {
    await createUser(server, 'pia');
    const { session, page } = await accountSession('pia');
    await enrolTotp(session);
    await smtp.next(mailOf('pia'));
    const account = await page();
    const factor = account.match(/name="factor" value="([^"]+)"/)![1]!;
    const removed = await session.postForm(actionContaining(account, '/account/two-step/remove'), { csrf: csrfField(account), factor, password: PASSWORD });
    expect(removed.status).toBe(303);
    const notice = await smtp.next(mailOf('pia'));
    expect(notice.text).toContain('An authenticator app was removed from your account.');
    expectNoSecrets(notice);
  });

  it('tells the person when a passkey is registered and removed, naming it, with no key material', async () => {
    const user = await createUser(server, 'quinn');
    const { session, page } = await accountSession('quinn');
    const authenticator = new SoftAuthenticator(server.issuer);
    const account = await page();
    const csrf = csrfField(account);
    const options = await session.request('/account/passkeys/options', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ csrf }),
    });
    expect(options.status).toBe(200);
    const credential = authenticator.register(await options.json());
    const registered = await session.postForm('/account/passkeys', { csrf, name: 'Blue key', password: PASSWORD, credential: JSON.stringify(credential) });
    expect(registered.status).toBe(303);
    const added = await smtp.next(mailOf('quinn'));
    expect(added.text).toContain('A passkey "Blue key" was added to your account for signing in.');
    const [row] = await server.runtime.db('webauthn_credentials').where({ account_id: user.id });
    secrets.push(row.credential_id);
    expectNoSecrets(added);

    const removed = await session.postForm('/account/passkeys/remove', { csrf, id: row.id, password: PASSWORD });
    expect(removed.status).toBe(303);
    const gone = await smtp.next(mailOf('quinn'));
    expect(gone.text).toContain('A passkey "Blue key" was removed from your account.');
    expectNoSecrets(gone);
  });
});

/** A person with an authenticator app and then a passkey "Work key" (their notices taken). */
async function withAppAndPasskey(username: string) {
  const user = await createUser(server, username);
  const { session, page } = await accountSession(username);
  await enrolTotp(session);
  await smtp.next(mailOf(username));
  // The session used the app when enrolling it: strong enough for any change on the account page.
  const account = await page();
  const csrf = csrfField(account);
  const options = await session.request('/account/passkeys/options', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ csrf }),
  });
  const authenticator = new SoftAuthenticator(server.issuer);
  const credential = authenticator.register(await options.json());
  expect((await session.postForm('/account/passkeys', { csrf, name: 'Work key', password: PASSWORD, credential: JSON.stringify(credential) })).status).toBe(303);
  await smtp.next(mailOf(username));
  const [passkey] = await server.runtime.db('webauthn_credentials').where({ account_id: user.id });
  secrets.push(passkey.credential_id);
  return { user, passkeyId: passkey.id as string, publicKey: Buffer.from(passkey.public_key).toString('base64url') };
}

describe('operators and passkeys', () => {
  it('the admin API lists passkeys with the factors (never key material), removes one by id and resets both kinds; each told and audited', async () => {
    const { user, passkeyId, publicKey } = await withAppAndPasskey('rosa');
    const reader = adminApi(server, await adminToken(server, await adminClient(server, 'admin:users:read'), 'admin:users:read'));
    const listed = await reader.get('/users/rosa/factors');
    expect(listed.status).toBe(200);
    expect(listed.body.factors.map((f: { kind: string }) => f.kind)).toEqual(['totp', 'passkey']);
    const passkey = listed.body.factors.find((f: { kind: string }) => f.kind === 'passkey');
    expect(passkey).toMatchObject({ id: passkeyId, label: 'Work key', last_used_at: null });
    expect(passkey.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const body = JSON.stringify(listed.body);
    expect(body).not.toContain(publicKey);
    for (const s of secrets) expect(body).not.toContain(s);
    expect(body).not.toMatch(/public_?key|credential_?id|counter|sealed|secret/i);
    // Reading is not writing.
    expect((await reader.delete(`/users/rosa/factors/${passkeyId}`)).status).toBe(403);
    expect((await reader.delete('/users/rosa/factors')).status).toBe(403);

    const writer = adminApi(server, await adminToken(server, await adminClient(server, 'admin:users:write'), 'admin:users:write'));
    // Hostile or unknown ids: readable 404s, nothing removed.
    for (const id of ['no-such-factor', '%00', `${passkeyId}x`, "' OR 1=1 --"]) {
      const res = await writer.delete(`/users/rosa/factors/${encodeURIComponent(id)}`);
      expect([400, 404]).toContain(res.status);
    }
    // Another person's passkey id, under this person: not found.
    const { passkeyId: foreign } = await withAppAndPasskey('saul');
    expect((await writer.delete(`/users/rosa/factors/${foreign}`)).status).toBe(404);
    expect(await server.runtime.db('webauthn_credentials').where({ id: foreign })).toHaveLength(1);

    const removed = await writer.delete(`/users/rosa/factors/${passkeyId}`);
    expect(removed.status).toBe(200);
    expect(removed.body.factors.map((f: { kind: string }) => f.kind)).toEqual(['totp']);
    // The authenticator app is left: the recovery codes stay.
    expect(removed.body.recovery_codes_left).toBe(10);
    const notice = await smtp.next(mailOf('rosa'));
    expect(notice.text).toContain('A passkey "Work key" was removed from your account.');
    expectNoSecrets(notice);
    const audited = (await listAuditEvents(server.runtime.db, { type: 'passkey.removed' })).filter((e) => e.accountId === user.id);
    expect(audited.at(-1)!.details).toMatchObject({ passkey: passkeyId, name: 'Work key', by: expect.stringMatching(/^admin:/) });

    // The reset removes Saul's app and passkey together.
    const reset = await writer.delete('/users/saul/factors');
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ username: 'saul', factors_removed: 2, passkeys_removed: 1 });
    expect(await server.runtime.db('webauthn_credentials').where({ id: foreign })).toHaveLength(0);
    expect((await reader.get('/users/saul/factors')).body).toMatchObject({ factors: [], recovery_codes_left: 0 });
    const told = await smtp.next(mailOf('saul'));
    expect(told.text).toContain('An administrator removed the second sign-in steps');
    expectNoSecrets(told);
    const resets = await listAuditEvents(server.runtime.db, { type: 'mfa.reset' });
    expect(resets.at(-1)!.details).toMatchObject({ factors_removed: 2, passkeys_removed: 1, actor: expect.stringMatching(/^admin:/) });
  });

  it('`tessera user factors` lists passkeys and `tessera user reset-mfa` removes them; the person is told', async () => {
    const { passkeyId } = await withAppAndPasskey('tilda');
    const storage = await createStorage();
    try {
      const listed = await runCliInProcess(storage, ['user', 'factors', '--username', 'tilda'], { runtime: server.runtime });
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(`${passkeyId}  passkey  "Work key"`);
      expect(listed.stdout).toContain('last used never');
      const json = JSON.parse((await runCliInProcess(storage, ['user', 'factors', '--username', 'tilda', '--json'], { runtime: server.runtime })).stdout);
      expect(json.factors).toHaveLength(2);
      for (const s of secrets) expect(listed.stdout + JSON.stringify(json)).not.toContain(s);

      // The command sends the notice itself before it exits (cli/run-operation.ts waits for the mailer).
      const mail = { SMTP_URL: smtp.url, MAIL_FROM: 'Tessera Test <accounts@example.test>' };
      const reset = await runCliInProcess(storage, ['user', 'reset-mfa', '--username', 'tilda'], { runtime: server.runtime, env: mail });
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stdout).toContain('removed 2 second factor(s) (1 of them passkeys)');
      expect(await server.runtime.db('webauthn_credentials').where({ id: passkeyId })).toHaveLength(0);
      const told = await smtp.next(mailOf('tilda'));
      expect(told.text).toContain('An administrator removed the second sign-in steps');
      const none = await runCliInProcess(storage, ['user', 'factors', '--username', 'tilda'], { runtime: server.runtime });
      expect(none.stdout).toContain('tilda has no second factor');
    } finally {
      await storage.drop();
    }
  });
});

describe('logs', () => {
  it('carry no code, secret or key id of any of the above', async () => {
    await server.operations.mailer!.idle();
    const logs = server.logs.join('');
    expect(secrets.length).toBeGreaterThan(20);
    for (const s of secrets) expect(logs).not.toContain(s);
    expect(logs).not.toMatch(/"status":5\d\d|"statusCode":5\d\d/);
  });
});
