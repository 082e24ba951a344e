// Without SMTP_URL: in embedded mode on disk, messages are written as .eml files to <data dir>/outbox
// (0600, never to the log); with no outbox either (in-memory or PostgreSQL without MAIL_OUTBOX_DIR), email
// is off and "Forgot password?" is not offered.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField } from '../helpers/browser-session.ts';
import { createClient, createUser, discover, REDIRECT_URI } from '../helpers/oauth.ts';
import { linkIn, parseMail } from '../helpers/smtp.ts';
import { parseConfig } from '../../src/config.ts';

const ON_POSTGRES = !!process.env.DATABASE_URL;
const dirs: string[] = [];
const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function loginPage(server: TestServer) {
  const client = await createClient(server, { name: 'Outbox App' });
  const config = await discover(server, client);
  const browser = new BrowserSession(server.issuer);
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    state: 's',
  });
  const step = await browser.follow(url);
  return { browser, html: await step.res.text() };
}

describe('the outbox', () => {
  it.skipIf(ON_POSTGRES)('writes each message to <data dir>/outbox as an owner-only .eml file, and nothing of it to the log', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-outbox-'));
    dirs.push(dataDir);
    const server = await startTestServer({ dataDir });
    servers.push(server);
    expect(server.operations.mailer?.mode).toBe('outbox');
    await createUser(server, 'otto');

    const { browser, html } = await loginPage(server);
    expect(html).toContain('Forgot password?');
    const form = await browser.request('/password/forgot');
    const res = await browser.postForm('/password/forgot', { csrf: csrfField(await form.text()), identifier: 'otto' });
    expect(res.status).toBe(303);
    await server.operations.mailer!.idle();

    const outbox = join(dataDir, 'outbox');
    const files = readdirSync(outbox);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^\d{4}-\d{2}-\d{2}T[\d-]+Z-[0-9a-f]{12}\.eml$/);
    const file = join(outbox, files[0]!);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(outbox).mode & 0o777).toBe(0o700);
    const mail = parseMail(readFileSync(file, 'utf8'));
    expect(mail.headers.to).toBe('otto@example.test');
    const link = linkIn(mail, '/password/reset');
    expect((await browser.request(link)).status).toBe(200);

    const logs = server.logs.join('\n');
    expect(logs).toContain('email written to the outbox');
    expect(logs).not.toContain(new URL(link).searchParams.get('token')!);
    expect(logs).not.toContain('otto@example.test');
  });

  it('goes to MAIL_OUTBOX_DIR when set, on any database', () => {
    const result = parseConfig({ DATABASE_URL: 'postgres://db/x', TESSERA_SECRET: 'x'.repeat(40), MAIL_OUTBOX_DIR: '/var/spool/tessera' });
    expect(result.ok && result.config.mail).toMatchObject({ smtpUrl: undefined, outboxDir: '/var/spool/tessera' });
    const off = parseConfig({ DATABASE_URL: 'postgres://db/x', TESSERA_SECRET: 'x'.repeat(40) });
    expect(off.ok && off.config.mail.outboxDir).toBeUndefined();
  });

  it('refuses a bad SMTP_URL or MAIL_FROM with one readable line', () => {
    expect(parseConfig({ SMTP_URL: 'http://mail.example.com' })).toMatchObject({ ok: false, problems: [expect.stringMatching(/^SMTP_URL: must be an smtp:\/\/ or smtps:\/\/ URL/)] });
    expect(parseConfig({ MAIL_FROM: 'a@b.c\r\nBcc: x@y.z' })).toMatchObject({ ok: false, problems: [expect.stringMatching(/^MAIL_FROM: /)] });
  });
});

describe('without any way to send email', () => {
  it('hides "Forgot password?", answers its pages 404, and sends nothing at registration', async () => {
    const server = await startTestServer({ env: { SELF_REGISTRATION: 'true' } });
    servers.push(server);
    expect(server.operations.mailer?.mode).toBe('off');
    const { browser, html } = await loginPage(server);
    expect(html).not.toContain('Forgot password?');
    expect(html).not.toContain('/forgot');
    expect((await browser.request('/password/forgot')).status).toBe(404);
    expect((await browser.request(`${new URL(server.issuer).origin}/password/reset?token=${'A'.repeat(43)}`)).status).toBe(404);
    if (ON_POSTGRES) expect(server.logs.join('\n')).toContain('email is off');
  });
});
