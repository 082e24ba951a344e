// Every way a brokered sign-in can go wrong ends on a readable page of ours: a 4xx/5xx status (never 500),
// a sentence that says what happened, no stack trace, a "Back to sign-in" link when the sign-in is known,
// and never a redirect loop. The upstream is a second Tessera (test/upstream/helpers.ts), and after every
// failure the way back leads to a sign-in page that still works.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperation } from '../../src/services/operations.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { createClient, createUser, REDIRECT_URI } from '../helpers/oauth.ts';
import { freePort } from '../helpers/server.ts';
import {
  atUpstream,
  expectFailurePage,
  land,
  openSignIn,
  pressUpstream,
  redeem,
  signInThroughUpstream,
  startPair,
  upstreamAction,
  type Landed,
  type Pair,
  type SignInPage,
} from './helpers.ts';

const LOCAL_PASSWORD = 'local horse battery';

const says = {
  invalid: (name: string) => `${name} sent an answer that could not be verified, so you were not signed in.`,
  denied: (name: string) => `${name} did not sign you in: access was not allowed.`,
  unreachable: (name: string) => `${name} could not be reached. Try again in a moment.`,
  disabled: 'The account linked to this identity is disabled.',
  unknown: 'This sign-in option is not available.',
  expired: 'This sign-in attempt has expired or was started in another browser. Start again from the application.',
};

/** A form post's answer as a landed page (the post itself is where it ended). */
async function landedFrom(pair: Pair, path: string, res: Response): Promise<Landed> {
  return { url: new URL(path, pair.downstream.issuer), status: res.status, html: await res.text(), headers: res.headers };
}

/**
 * The "Back to sign-in" link, followed in the same browser: a sign-in page with the password form, where a
 * local account still signs in and the app gets its code.
 */
async function passwordSignInFromBackLink(pair: Pair, page: SignInPage, back: string | undefined, username: string) {
  expect(back).toBe(`/interaction/${page.uid}`);
  const again = await land(page.session, back!);
  expect(again.status, again.html.slice(0, 300)).toBe(200);
  expect(again.url.pathname).toBe(back);
  expect(again.html).toContain('name="password"');
  expect(again.html).toContain('Continue with Corp SSO');
  const posted = await page.session.postForm(formAction(again.html), { csrf: csrfField(again.html), username, password: LOCAL_PASSWORD });
  expect(posted.status).toBe(303);
  const done = await land(page.session, posted.headers.get('location')!);
  const tokens = await redeem(pair, { sessionDown: page.session, sessionUp: page.session, codeVerifier: page.codeVerifier, landed: done });
  const local = await runOperation(pair.downstream.operations, 'user.show', { user: username });
  expect(tokens.claims()!.sub).toBe(local.id);
}

/** Signs in at the upstream from the button's 303 and returns the callback URL it sends the browser back to. */
async function roundTripToCallback(pair: Pair, page: SignInPage, username: string, id = 'corp', consent?: 'allow' | 'deny') {
  const start = await pressUpstream(page, id);
  expect(start.status, await start.clone().text()).toBe(303);
  return atUpstream(pair, new BrowserSession(pair.upstream.issuer), start.headers.get('location')!, { username, ...(consent ? { consent } : {}) });
}

const identities = (pair: Pair) => pair.downstream.runtime.db('account_identities').select('upstream_id', 'subject', 'account_id');
const failuresRecorded = (pair: Pair) =>
  pair.downstream.runtime.db('audit_events').where('type', 'login.upstream_failed').orderBy('id').select('details', 'client_id');

describe('failures while the upstream is up', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair();
    for (const name of ['uma', 'dana', 'dora', 'otto']) await createUser(pair.upstream, name, 'upstream horse battery');
    await createUser(pair.downstream, 'lou', LOCAL_PASSWORD);
    // A second upstream through a broker client that is not first-party, so the upstream asks for consent.
    const partner = await createClient(pair.upstream, {
      name: 'Partner broker',
      redirectUris: [`${pair.downstream.issuer}/upstream/partner/callback`],
      scope: 'openid profile email',
    });
    await runOperation(pair.downstream.operations, 'upstream.create', {
      id: 'partner',
      displayName: 'Partner SSO',
      issuer: pair.upstream.issuer,
      clientId: partner.client_id,
      clientSecret: partner.client_secret,
    });
  }, 60_000);
  afterAll(() => pair?.stop());

  it.each([
    { change: 'a state that is not the one sent', tamper: (u: URL) => u.searchParams.set('state', 'not-the-state-we-sent') },
    { change: 'no state', tamper: (u: URL) => u.searchParams.delete('state') },
    { change: 'an iss that names another issuer (mix-up)', tamper: (u: URL) => u.searchParams.set('iss', 'https://evil.example.test') },
    { change: 'no iss, from an upstream that sends one (RFC 9207)', tamper: (u: URL) => u.searchParams.delete('iss') },
    { change: 'a code the upstream never issued', tamper: (u: URL) => u.searchParams.set('code', 'forged-code-forged-code-forged-code-0123') },
  ])('refuses a callback with $change: "could not be verified", 400, nobody signed in', async ({ tamper }) => {
    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'uma');
    tamper(callback);
    const landed = await land(page.session, callback);
    const back = expectFailurePage(pair, landed, { status: 400, says: says.invalid('Corp SSO'), uid: page.uid });
    expect(await identities(pair)).toEqual([]);
    expect((await failuresRecorded(pair)).at(-1)).toMatchObject({ client_id: pair.app.client_id, details: { upstream: 'corp', reason: 'invalid' } });
    expect(back).toBe(`/interaction/${page.uid}`);
    // The failure is logged (a warning naming the upstream), but never the code or the state.
    const logs = pair.downstream.logs.join('');
    expect(logs).toContain('upstream sign-in failed');
    for (const value of [callback.searchParams.get('code'), callback.searchParams.get('state')]) if (value) expect(logs).not.toContain(value);
  });

  it('after a refused callback, "Back to sign-in" leads to a sign-in page where the password still works', async () => {
    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'uma');
    callback.searchParams.set('state', 'tampered');
    const back = expectFailurePage(pair, await land(page.session, callback), { status: 400, says: says.invalid('Corp SSO'), uid: page.uid });
    await passwordSignInFromBackLink(pair, page, back, 'lou');
  });

  it('after a refused callback, the button works again in the same sign-in (a fresh round trip)', async () => {
    const page = await openSignIn(pair);
    const bad = await roundTripToCallback(pair, page, 'otto');
    bad.searchParams.set('state', 'tampered');
    expectFailurePage(pair, await land(page.session, bad), { status: 400, says: says.invalid('Corp SSO'), uid: page.uid });
    const good = await roundTripToCallback(pair, page, 'otto');
    const done = await land(page.session, good);
    const tokens = await redeem(pair, { sessionDown: page.session, sessionUp: page.session, codeVerifier: page.codeVerifier, landed: done });
    expect(tokens.claims()!.sub).toBe((await runOperation(pair.downstream.operations, 'user.show', { user: 'otto' })).id);
  });

  it('says "access was not allowed" (403) when the person denies consent at the upstream', async () => {
    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'uma', 'partner', 'deny');
    expect(callback.pathname).toBe('/upstream/partner/callback');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    const landed = await land(page.session, callback);
    const back = expectFailurePage(pair, landed, { status: 403, says: says.denied('Partner SSO'), uid: page.uid });
    expect((await identities(pair)).filter((i) => i.upstream_id === 'partner')).toEqual([]);
    expect((await failuresRecorded(pair)).at(-1)).toMatchObject({ details: { upstream: 'partner', reason: 'denied' } });
    await passwordSignInFromBackLink(pair, page, back, 'lou');
  });

  it('allows the same partner upstream once consent is given (the denial was the only problem)', async () => {
    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'dana', 'partner', 'allow');
    const done = await land(page.session, callback);
    expect(done.url.origin + done.url.pathname, done.html.slice(0, 300)).toBe(REDIRECT_URI);
    expect((await identities(pair)).filter((i) => i.upstream_id === 'partner')).toHaveLength(1);
  });

  it('does not sign in to a linked account that has been disabled (403, readable), and creates no other', async () => {
    const first = await redeem(pair, await signInThroughUpstream(pair, { username: 'dora' }));
    const dora = first.claims()!.sub;
    await runOperation(pair.downstream.operations, 'user.disable', { user: dora });
    const accountsBefore = (await pair.downstream.runtime.db('accounts').count({ n: '*' }))[0]!.n;

    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'dora');
    const landed = await land(page.session, callback);
    const back = expectFailurePage(pair, landed, { status: 403, says: says.disabled, uid: page.uid });
    expect((await pair.downstream.runtime.db('accounts').count({ n: '*' }))[0]!.n).toBe(accountsBefore);
    // Only the sign-in from before the account was disabled.
    expect(await pair.downstream.runtime.db('audit_events').where({ type: 'login.upstream', account_id: dora }).select('id')).toHaveLength(1);

    // Not signed in: the way back is the sign-in page, not a code for the app.
    const again = await land(page.session, back!);
    expect(again.status).toBe(200);
    expect(again.url.pathname).toBe(`/interaction/${page.uid}`);
    expect(again.html).toContain('name="password"');
  });

  it('answers 404 with a readable page for an unknown upstream id in the start URL', async () => {
    const page = await openSignIn(pair);
    for (const id of ['nope', 'UPPER', 'a'.repeat(64), 'corp%2F..']) {
      const path = `/interaction/${page.uid}/upstream/${id}`;
      const res = await page.session.postForm(path, { csrf: csrfField(page.html) });
      expectFailurePage(pair, await landedFrom(pair, path, res), { status: 404, says: says.unknown, uid: page.uid });
    }
    // The sign-in page is still there.
    await passwordSignInFromBackLink(pair, page, `/interaction/${page.uid}`, 'lou');
  });

  it('answers 404 for an upstream disabled while the sign-in page was open, and no longer shows its button', async () => {
    await runOperation(pair.downstream.operations, 'upstream.create', {
      id: 'retiring',
      displayName: 'Retiring SSO',
      issuer: pair.upstream.issuer,
      clientId: pair.brokerClient.client_id,
      clientSecret: pair.brokerClient.client_secret,
    });
    const page = await openSignIn(pair);
    expect(page.html).toContain('Continue with Retiring SSO');
    await runOperation(pair.downstream.operations, 'upstream.update', { id: 'retiring', enabled: false });
    const path = upstreamAction(page.html, 'retiring');
    const res = await page.session.postForm(path, { csrf: csrfField(page.html) });
    expectFailurePage(pair, await landedFrom(pair, path, res), { status: 404, says: says.unknown, uid: page.uid });
    const fresh = await land(page.session, `/interaction/${page.uid}`);
    expect(fresh.html).not.toContain('Retiring SSO');
    expect(fresh.html).toContain('Continue with Corp SSO');
  });

  it('answers 404 when the upstream is disabled between the button and the callback', async () => {
    await runOperation(pair.downstream.operations, 'upstream.update', { id: 'retiring', enabled: true });
    const page = await openSignIn(pair);
    const start = await pressUpstream(page, 'retiring');
    expect(start.status).toBe(303);
    await runOperation(pair.downstream.operations, 'upstream.update', { id: 'retiring', enabled: false });
    // The broker client only knows corp's redirect URI, so come back by hand with what an upstream would send.
    const callback = new URL(`${pair.downstream.issuer}/upstream/retiring/callback`);
    callback.search = new URLSearchParams({ code: 'whatever', state: new URL(start.headers.get('location')!).searchParams.get('state')!, iss: pair.upstream.issuer }).toString();
    expectFailurePage(pair, await land(page.session, callback), { status: 404, says: says.unknown, uid: page.uid });
  });

  it('answers a callback in a browser without the round trip\'s cookie with "expired" (400), and no link to a sign-in that is not theirs', async () => {
    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'uma');
    // Another browser (or the cookie expired): the fixed callback, and the interaction's own callback path.
    const stranger = new BrowserSession(pair.downstream.issuer);
    expectFailurePage(pair, await land(stranger, callback), { status: 400, says: says.expired });
    const direct = new URL(`/interaction/${page.uid}/upstream/corp/callback${callback.search}`, pair.downstream.issuer);
    expectFailurePage(pair, await land(stranger, direct), { status: 400, says: says.expired });
    // The person's own browser still completes: the stranger's attempts used nothing up.
    const done = await land(page.session, callback);
    expect(done.url.origin + done.url.pathname, done.html.slice(0, 300)).toBe(REDIRECT_URI);
  });

  it('refuses a forged or altered round-trip cookie with "expired" (400)', async () => {
    const page = await openSignIn(pair);
    const start = await pressUpstream(page);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const cookies = Object.fromEntries(page.session.cookieHeader().split('; ').map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)]));
    const genuine = cookies['tessera.upstream']!;
    const genuineSig = cookies['tessera.upstream.sig']!;
    expect(genuine).toBeDefined();
    expect(genuineSig).toBeDefined();
    const flow = JSON.parse(Buffer.from(genuine, 'base64url').toString('utf8')) as Record<string, string>;
    expect(flow).toMatchObject({ uid: page.uid, upstream: 'corp', state });
    const mine = Buffer.from(JSON.stringify({ ...flow, state: 'attacker-state', codeVerifier: 'attacker-verifier-attacker-verifier-attacker' })).toString('base64url');

    const callback = new URL(`${pair.downstream.issuer}/upstream/corp/callback?code=abc&state=attacker-state&iss=${encodeURIComponent(pair.upstream.issuer)}`);
    for (const cookie of [
      `tessera.upstream=${mine}`, // no signature
      `tessera.upstream=${mine}; tessera.upstream.sig=${genuineSig}`, // another value's signature
      `tessera.upstream=${mine}; tessera.upstream.sig=AAAAAAAAAAAAAAAAAAAAAAAAAAA`, // a made-up signature
      `tessera.upstream=not-json; tessera.upstream.sig=${genuineSig}`,
    ]) {
      const res = await new BrowserSession(pair.downstream.issuer).request(callback, { headers: { cookie } });
      expectFailurePage(pair, await landedFrom(pair, callback.href, res), { status: 400, says: says.expired });
    }
  });

  it('answers a replayed callback with "expired" (the round trip is used once), not a second sign-in', async () => {
    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'uma');
    const done = await land(page.session, callback);
    expect(done.url.origin + done.url.pathname).toBe(REDIRECT_URI);
    const logins = await pair.downstream.runtime.db('audit_events').where('type', 'login.upstream').count({ n: '*' });
    const replay = await land(page.session, callback);
    expectFailurePage(pair, replay, { status: 400, says: says.expired });
    expect(await pair.downstream.runtime.db('audit_events').where('type', 'login.upstream').count({ n: '*' })).toEqual(logins);
  });

  it('answers a callback whose sign-in page cookie is gone with a readable 400, not a 500', async () => {
    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'uma');
    // Only the round-trip cookie survives (e.g. the interaction cookie was cleared): send it alone.
    const flowOnly = page.session
      .cookieHeader()
      .split('; ')
      .filter((c) => c.startsWith('tessera.upstream'))
      .join('; ');
    const bounce = await fetch(callback, { headers: { cookie: flowOnly, accept: 'text/html' }, redirect: 'manual' });
    expect(bounce.status).toBe(303);
    const next = new URL(bounce.headers.get('location')!, pair.downstream.issuer);
    expect(next.pathname).toBe(`/interaction/${page.uid}/upstream/corp/callback`);
    const res = await fetch(next, { headers: { cookie: flowOnly, accept: 'text/html' }, redirect: 'manual' });
    const html = await res.text();
    expect(res.status, html.slice(0, 400)).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html).not.toMatch(/\bat \S+ \(|\.ts:\d+/);
  });

  it('says "could not be verified" when the upstream refuses the client secret at the token endpoint', async () => {
    await runOperation(pair.downstream.operations, 'upstream.update', { id: 'corp', clientSecret: 'not-the-secret-the-upstream-knows' });
    try {
      const page = await openSignIn(pair);
      const callback = await roundTripToCallback(pair, page, 'uma');
      const back = expectFailurePage(pair, await land(page.session, callback), { status: 400, says: says.invalid('Corp SSO'), uid: page.uid });
      await passwordSignInFromBackLink(pair, page, back, 'lou');
    } finally {
      await runOperation(pair.downstream.operations, 'upstream.update', { id: 'corp', clientSecret: pair.brokerClient.client_secret! });
    }
    // With the right secret again, the same upstream works at once (no stale configuration).
    await redeem(pair, await signInThroughUpstream(pair, { username: 'uma' }));
  });

  it('says "could not be verified" (502) when the upstream\'s discovery document names another issuer', async () => {
    // The same server under another name: its metadata says http://localhost:…, not http://127.0.0.1:….
    const elsewhere = pair.upstream.issuer.replace('localhost', '127.0.0.1');
    await runOperation(pair.downstream.operations, 'upstream.create', {
      id: 'misnamed',
      displayName: 'Misnamed SSO',
      issuer: elsewhere,
      clientId: pair.brokerClient.client_id,
      clientSecret: pair.brokerClient.client_secret,
    });
    const page = await openSignIn(pair);
    const path = upstreamAction(page.html, 'misnamed');
    const res = await pressUpstream(page, 'misnamed');
    expectFailurePage(pair, await landedFrom(pair, path, res), { status: 502, says: says.invalid('Misnamed SSO'), uid: page.uid });
    await runOperation(pair.downstream.operations, 'upstream.delete', { id: 'misnamed' });
  });
});

describe('when the upstream cannot be reached', () => {
  let pair: Pair;
  let upstreamStopped = false;
  let silent: Server | undefined;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // The shortest upstream request timeout (1 s, instead of the default 5), for the upstream that never
    // answers; the live upstream's answers (discovery, token, userinfo, on loopback) take milliseconds.
    pair = await startPair({ downstreamEnv: { UPSTREAM_TIMEOUT: '1' } });
    await createUser(pair.upstream, 'uma', 'upstream horse battery');
    await createUser(pair.downstream, 'lou', LOCAL_PASSWORD);
    // The same upstream under a second id, never used before: its discovery happens on the first press.
    await runOperation(pair.downstream.operations, 'upstream.create', {
      id: 'corp-two',
      displayName: 'Corp SSO Two',
      issuer: pair.upstream.issuer,
      clientId: pair.brokerClient.client_id,
      clientSecret: pair.brokerClient.client_secret,
    });
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
    await pair?.downstream.stop();
    if (!upstreamStopped) await pair?.upstream.stop();
  });

  it('says "could not be reached" (502) when the upstream stops between sign-in there and the callback', async () => {
    const page = await openSignIn(pair);
    const callback = await roundTripToCallback(pair, page, 'uma');
    await pair.upstream.stop();
    upstreamStopped = true;
    const landed = await land(page.session, callback);
    const back = expectFailurePage(pair, landed, { status: 502, says: says.unreachable('Corp SSO'), uid: page.uid });
    expect((await failuresRecorded(pair)).at(-1)).toMatchObject({ details: { upstream: 'corp', reason: 'unreachable' } });
    expect(await identities(pair)).toEqual([]);
    await passwordSignInFromBackLink(pair, page, back, 'lou');
  });

  it('says "could not be reached" (502) when the upstream is down as the button is pressed', async () => {
    expect(upstreamStopped).toBe(true);
    const page = await openSignIn(pair);
    const path = upstreamAction(page.html, 'corp-two');
    const res = await pressUpstream(page, 'corp-two');
    const back = expectFailurePage(pair, await landedFrom(pair, path, res), { status: 502, says: says.unreachable('Corp SSO Two'), uid: page.uid });
    // No round-trip cookie was left behind for a trip that never started.
    expect(page.session.cookieHeader()).not.toContain('tessera.upstream=');
    await passwordSignInFromBackLink(pair, page, back, 'lou');
  });

  it('says "could not be reached" (502) when the upstream accepts connections but never answers', async () => {
    let accepted = 0;
    silent = createServer((socket) => {
      accepted++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    const port = await freePort();
    await new Promise<void>((resolve) => silent!.listen(port, '127.0.0.1', resolve));
    await runOperation(pair.downstream.operations, 'upstream.create', {
      id: 'silent',
      displayName: 'Silent SSO',
      issuer: `http://127.0.0.1:${port}`,
      clientId: 'anything',
      clientSecret: 'anything',
    });
    const page = await openSignIn(pair);
    const path = upstreamAction(page.html, 'silent');
    const started = Date.now();
    const res = await pressUpstream(page, 'silent');
    // Bounded by the upstream request timeout (UPSTREAM_TIMEOUT, 1 s here), not left hanging.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(accepted, 'the discovery request reached the silent upstream').toBeGreaterThan(0);
    expectFailurePage(pair, await landedFrom(pair, path, res), { status: 502, says: says.unreachable('Silent SSO'), uid: page.uid });
  });
});
