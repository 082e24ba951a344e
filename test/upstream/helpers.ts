// Two Tessera instances: an upstream identity provider (at http://localhost:PORT) and the downstream issuer
// that brokers sign-in through it (at http://127.0.0.1:PORT, so the two keep separate cookies as two sites
// would). The whole round trip runs over HTTP with cookie-jar browsers, one per site.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { startTestServer, freePort, type TestServer } from '../helpers/server.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { createClient, discover, REDIRECT_URI } from '../helpers/oauth.ts';
import { runOperation } from '../../src/services/operations.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

export const UPSTREAM_PASSWORD = 'upstream horse battery';

export interface Pair {
  upstream: TestServer;
  downstream: TestServer;
  /** The downstream app people sign in to. */
  app: ClientMetadata;
  /** Downstream's client at the upstream. */
  brokerClient: ClientMetadata;
  stop(): Promise<void>;
}

export async function startPair(
  options: { provisioning?: 'jit' | 'link'; defaultRoles?: string[]; upstreamId?: string; /** More settings for the downstream. */ downstreamEnv?: Record<string, string> } = {},
): Promise<Pair> {
  const port = await freePort();
  const upstream = await startTestServer({}, { database: await createTestDatabase(), port, issuer: `http://localhost:${port}` });
  const downstream = await startTestServer({ env: { UPSTREAM_ALLOW_HTTP: 'true', ...options.downstreamEnv } });
  const id = options.upstreamId ?? 'corp';
  const brokerClient = await createClient(upstream, {
    name: 'Downstream broker',
    redirectUris: [`${downstream.issuer}/upstream/${id}/callback`],
    scope: 'openid profile email',
    firstParty: true,
  });
  await runOperation(downstream.operations, 'upstream.create', {
    id,
    kind: 'oidc',
    displayName: 'Corp SSO',
    issuer: upstream.issuer,
    clientId: brokerClient.client_id,
    clientSecret: brokerClient.client_secret,
    provisioning: options.provisioning ?? 'jit',
    defaultRoles: options.defaultRoles,
  });
  const app = await createClient(downstream, { name: 'Downstream app', firstParty: true });
  return {
    upstream,
    downstream,
    app,
    brokerClient,
    async stop() {
      await downstream.stop();
      await upstream.stop();
    },
  };
}

export interface Walk {
  sessionDown: BrowserSession;
  sessionUp: BrowserSession;
  /** Where the walk stopped at the downstream: the app's callback, or one of our pages. */
  landed: { url: URL; status: number; html: string };
  codeVerifier: string;
}

/** Downstream authorize → "Continue with Corp SSO" → upstream sign-in → back downstream. */
export async function signInThroughUpstream(pair: Pair, options: { username: string; password?: string; sessionDown?: BrowserSession; sessionUp?: BrowserSession; tamper?: (callback: URL) => URL }): Promise<Walk> {
  const sessionUp = options.sessionUp ?? new BrowserSession(pair.upstream.issuer);
  const { session: sessionDown, html: loginHtml, codeVerifier } = await openSignIn(pair, options.sessionDown);
  expect(loginHtml).toContain('Continue with Corp SSO');
  const start = await sessionDown.postForm(formAction(loginHtml, 1), { csrf: csrfField(loginHtml) });
  expect(start.status).toBe(303);

  // At the upstream: its own sign-in page (unless already signed in there), then back.
  let up = await sessionUp.follow(start.headers.get('location')!);
  if (up.url.origin === pair.upstream.issuer) {
    const html = await up.res.text();
    const posted = await sessionUp.postForm(formAction(html), { csrf: csrfField(html), username: options.username, password: options.password ?? UPSTREAM_PASSWORD });
    expect(posted.status).toBe(303);
    up = await sessionUp.follow(posted.headers.get('location')!);
  }
  expect(up.url.origin).toBe(pair.downstream.issuer);
  const callback = options.tamper ? options.tamper(up.url) : up.url;
  const down = await sessionDown.follow(callback);
  const html = down.url.origin === pair.downstream.issuer ? await down.res.text() : '';
  return { sessionDown, sessionUp, landed: { url: down.url, status: down.res.status, html }, codeVerifier };
}

/** The app's code exchanged for downstream tokens (Tessera's own, not the upstream's). */
export async function redeem(pair: Pair, walk: Walk) {
  expect(walk.landed.url.origin + walk.landed.url.pathname, walk.landed.html.slice(0, 500)).toBe(REDIRECT_URI);
  const config = await discover(pair.downstream, pair.app);
  return oidc.authorizationCodeGrant(config, walk.landed.url, { pkceCodeVerifier: walk.codeVerifier, expectedState: 'downstream-state', idTokenExpected: true });
}

// Step by step, for the tests that stop or go wrong half-way (failures, account page, management).

export interface SignInPage {
  session: BrowserSession;
  /** The interaction uid: the sign-in page is /interaction/<uid>. */
  uid: string;
  html: string;
  codeVerifier: string;
}

/** The downstream app's authorize URL, followed to Tessera's sign-in page. */
export async function openSignIn(pair: Pair, session = new BrowserSession(pair.downstream.issuer)): Promise<SignInPage> {
  const config = await discover(pair.downstream, pair.app);
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state: 'downstream-state',
  });
  const page = await session.follow(url);
  const html = await page.res.text();
  expect(page.res.status, html.slice(0, 300)).toBe(200);
  const uid = /^\/interaction\/([^/]+)$/.exec(page.url.pathname)?.[1];
  expect(uid, page.url.href).toBeDefined();
  return { session, uid: uid!, html, codeVerifier };
}

/** The action of the "Continue with …" form of upstream `id` on a sign-in page. */
export function upstreamAction(html: string, id: string): string {
  const action = [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]!).find((a) => a.endsWith(`/upstream/${id}`));
  if (!action) throw new Error(`no button for upstream "${id}" on: ${html.slice(0, 400)}`);
  return action;
}

/** Presses the button of upstream `id`: the answer is a 303 to the upstream, or one of our pages. */
export function pressUpstream(page: SignInPage, id = 'corp'): Promise<Response> {
  return page.session.postForm(upstreamAction(page.html, id), { csrf: csrfField(page.html) });
}

/**
 * At the upstream, from the authorization URL it was sent to: its sign-in page (unless already signed in
 * there) and its consent page if it shows one (allowed or denied), until it sends the browser back. Returns
 * the URL it was sent back to (the downstream's callback), not yet followed.
 */
export async function atUpstream(
  pair: Pair,
  sessionUp: BrowserSession,
  location: string,
  options: { username: string; password?: string; consent?: 'allow' | 'deny' },
): Promise<URL> {
  let step = await sessionUp.follow(location);
  for (let i = 0; i < 3 && step.url.origin === pair.upstream.issuer; i++) {
    const html = await step.res.text();
    expect(step.res.status, html.slice(0, 300)).toBe(200);
    let posted: Response;
    if (html.includes('name="password"')) {
      posted = await sessionUp.postForm(formAction(html), { csrf: csrfField(html), username: options.username, password: options.password ?? UPSTREAM_PASSWORD });
    } else {
      expect(html).toContain('Allow access?');
      // The consent page: the first form allows, the second denies.
      posted = await sessionUp.postForm(formAction(html, options.consent === 'deny' ? 1 : 0), { csrf: csrfField(html), remember: '1' });
    }
    expect(posted.status).toBe(303);
    step = await sessionUp.follow(posted.headers.get('location')!);
  }
  expect(step.url.origin).toBe(pair.downstream.issuer);
  return step.url;
}

export interface Landed {
  url: URL;
  status: number;
  html: string;
  headers: Headers;
}

/** Follows a URL on the downstream (redirects included) to wherever it ends. */
export async function land(session: BrowserSession, url: string | URL): Promise<Landed> {
  const { res, url: at } = await session.follow(url);
  return { url: at, status: res.status, html: await res.text(), headers: res.headers };
}

/**
 * A readable failure page: our own origin (not redirected anywhere, no loop), the given 4xx/5xx status, the
 * sentence that says what went wrong, no stack trace, and a "Back to sign-in" link to the interaction when
 * one is known (none otherwise). Returns that link.
 */
export function expectFailurePage(pair: Pair, landed: Landed, expected: { status: number; says: string | RegExp; uid?: string | undefined }): string | undefined {
  const context = `${landed.status} ${landed.url.href}\n${landed.html.slice(0, 800)}`;
  expect(landed.url.origin, context).toBe(pair.downstream.issuer);
  expect(landed.status, context).toBe(expected.status);
  expect(landed.headers.get('content-type')).toMatch(/^text\/html/);
  expect(landed.headers.get('cache-control')).toBe('no-store');
  expect(landed.html).toContain('Sign-in did not complete');
  if (typeof expected.says === 'string') expect(landed.html).toContain(expected.says);
  else expect(landed.html).toMatch(expected.says);
  // No stack trace, no internal error text.
  expect(landed.html).not.toMatch(/\bat \S+ \(|\.ts:\d+|ECONNREFUSED|fetch failed|TypeError|OperationProcessingError/);
  const back = /<a href="([^"]+)">Back to sign-in<\/a>/.exec(landed.html)?.[1];
  if (expected.uid) expect(back).toBe(`/interaction/${expected.uid}`);
  else expect(back).toBeUndefined();
  return back;
}
