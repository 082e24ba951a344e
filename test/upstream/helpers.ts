// Two Tessera instances: an upstream identity provider (at http://localhost:PORT) and the downstream issuer
// that brokers sign-in through it (at http://127.0.0.1:PORT, so the two keep separate cookies as two sites
// would). The whole round trip runs over HTTP with cookie-jar browsers, one per site.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { startTestServer, freePort, type TestServer } from '../helpers/server.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { BrowserSession, csrfField, formAction } from '../helpers/browser-session.ts';
import { createClient, discover, REDIRECT_URI } from '../helpers/oauth.ts';
import { runOperation } from '../../src/cli/operations.ts';
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

export async function startPair(options: { provisioning?: 'jit' | 'link'; defaultRoles?: string[]; upstreamId?: string } = {}): Promise<Pair> {
  const port = await freePort();
  const upstream = await startTestServer({}, { database: await createTestDatabase(), port, issuer: `http://localhost:${port}` });
  const downstream = await startTestServer({ env: { UPSTREAM_ALLOW_HTTP: 'true' } });
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
  const sessionDown = options.sessionDown ?? new BrowserSession(pair.downstream.issuer);
  const sessionUp = options.sessionUp ?? new BrowserSession(pair.upstream.issuer);
  const config = await discover(pair.downstream, pair.app);
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state: 'downstream-state',
  });
  const loginPage = await sessionDown.follow(url);
  const loginHtml = await loginPage.res.text();
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
