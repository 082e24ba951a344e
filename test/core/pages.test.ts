import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { createClient, createUser, discover, REDIRECT_URI } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

let server: TestServer;
let web: ClientMetadata;
let config: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'alice');
  web = await createClient(server, { name: 'Web <b>App</b>' });
  config = await discover(server, web);
});
afterAll(() => server?.stop());

async function openLoginPage(session: BrowserSession, extra: Record<string, string> = {}) {
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    ...extra,
  });
  const { res } = await session.follow(url);
  return { res, html: await res.text() };
}

describe('login page', () => {
  it('is served with strict security headers and no caching', async () => {
    const { res } = await openLoginPage(new BrowserSession(server.issuer));
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toContain('no-store');
  });

  it('sets HttpOnly SameSite=Lax cookies', async () => {
    const session = new BrowserSession(server.issuer);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI, scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const res = await session.request(url);
    const cookies = res.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const c of cookies) {
      expect(c.toLowerCase()).toContain('httponly');
      expect(c.toLowerCase()).toContain('samesite=lax');
    }
  });

  it('escapes the client name and login_hint', async () => {
    const { html } = await openLoginPage(new BrowserSession(server.issuer), { login_hint: '"><script>alert(1)</script>' });
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).not.toContain('<b>App</b>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('Web &lt;b&gt;App&lt;/b&gt;');
  });

  it('refuses a form post without the CSRF token with a readable 403 page', async () => {
    const session = new BrowserSession(server.issuer);
    const { html } = await openLoginPage(session);
    const res = await session.postForm(formAction(html), { username: 'alice', password: 'correct horse battery' });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('Something went wrong');
  });

  it('refuses a CSRF token from another browser', async () => {
    const attacker = new BrowserSession(server.issuer);
    const { html: attackerPage } = await openLoginPage(attacker);
    const victim = new BrowserSession(server.issuer);
    const { html } = await openLoginPage(victim);
    const res = await victim.postForm(formAction(html), { csrf: csrfField(attackerPage), username: 'alice', password: 'x' });
    expect(res.status).toBe(403);
  });

  it('gives the same answer for an unknown user and a wrong password', async () => {
    const answers: string[] = [];
    for (const username of ['alice', 'nobody-by-this-name']) {
      const session = new BrowserSession(server.issuer);
      const { html } = await openLoginPage(session);
      const res = await session.postForm(formAction(html), { csrf: csrfField(html), username, password: 'wrong password!' });
      expect(res.status).toBe(401);
      const body = await res.text();
      answers.push(body.match(/<p class="alert"[^>]*>([^<]*)<\/p>/)![1]!);
    }
    expect(answers[0]).toBe(answers[1]);
  });

  it('answers a successful sign-in with 303, never 307 or 308', async () => {
    const session = new BrowserSession(server.issuer);
    const { html } = await openLoginPage(session);
    const res = await session.postForm(formAction(html), { csrf: csrfField(html), username: 'alice', password: 'correct horse battery' });
    expect(res.status).toBe(303);
  });

  it('denying consent returns access_denied to the client', async () => {
    const session = new BrowserSession(server.issuer);
    const { html } = await openLoginPage(session, { state: 'st' });
    const login = await session.postForm(formAction(html), { csrf: csrfField(html), username: 'alice', password: 'correct horse battery' });
    const { res: consentRes } = await session.follow(login.headers.get('location')!);
    const consent = await consentRes.text();
    expect(consent).toContain('Allow access?');
    const deny = await session.postForm(formAction(consent, 1), { csrf: csrfField(consent) });
    expect(deny.status).toBe(303);
    const { url } = await session.follow(deny.headers.get('location')!);
    expect(url.origin + url.pathname).toBe(REDIRECT_URI);
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.get('state')).toBe('st');
  });
});

describe('health probes', () => {
  it('reports alive and ready', async () => {
    expect(await (await fetch(`${server.issuer}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.issuer}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });
});
