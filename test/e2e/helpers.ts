// Shared pieces of the real-browser tests: headless Chromium (Debian's, never a downloaded one), a tiny
// relying-party server that plays two apps "A" and "B" on loopback, and small page steps (sign in, allow,
// submit and wait for the next page).
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { chromium, type Browser, type Locator, type Page, type Response } from 'playwright-core';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll } from 'vitest';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/server.ts';
import { createClient, discover } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

export const PASSWORD = 'correct horse battery';
export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export type AppKey = 'a' | 'b';

/** What one app saw: every callback URL it was sent to and every logout token posted to it. */
export interface AppRecord {
  callbacks: URL[];
  logoutTokens: string[];
}

export interface RelyingParties {
  origin: string;
  apps: Record<AppKey, AppRecord>;
  redirectUri(app: AppKey): string;
  postLogoutUri(app: AppKey): string;
  backchannelUri(app: AppKey): string;
  reset(): void;
  /** Polls (bounded: 5 s) until the app has received `count` logout tokens; returns what arrived. */
  waitForLogoutTokens(app: AppKey, count: number): Promise<string[]>;
  close(): Promise<void>;
}

/** One node:http server on 127.0.0.1 playing apps A (/a/…) and B (/b/…). */
export async function startRelyingParties(): Promise<RelyingParties> {
  const apps: Record<AppKey, AppRecord> = { a: { callbacks: [], logoutTokens: [] }, b: { callbacks: [], logoutTokens: [] } };
  let origin = '';
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', origin);
      const match = /^\/(a|b)\/(callback|signed-out|backchannel)$/.exec(url.pathname);
      if (!match) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const app = match[1] as AppKey;
      const label = app.toUpperCase();
      if (match[2] === 'backchannel' && req.method === 'POST') {
        const token = new URLSearchParams(body).get('logout_token');
        if (token) apps[app].logoutTokens.push(token);
        res.writeHead(token ? 200 : 400, { 'cache-control': 'no-store' }).end();
        return;
      }
      if (match[2] === 'callback') apps[app].callbacks.push(url);
      const text = match[2] === 'callback' ? `signed in to ${label}` : `signed out of ${label}`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>App ${label}</title><h1>${text}</h1>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    origin,
    apps,
    redirectUri: (app) => `${origin}/${app}/callback`,
    postLogoutUri: (app) => `${origin}/${app}/signed-out`,
    backchannelUri: (app) => `${origin}/${app}/backchannel`,
    reset() {
      for (const record of Object.values(apps)) {
        record.callbacks.length = 0;
        record.logoutTokens.length = 0;
      }
    },
    async waitForLogoutTokens(app, count) {
      for (let i = 0; i < 100 && apps[app].logoutTokens.length < count; i++) await new Promise((r) => setTimeout(r, 50));
      return [...apps[app].logoutTokens];
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RegisteredApp {
  key: AppKey;
  name: string;
  client: ClientMetadata;
  config: oidc.Configuration;
  redirectUri: string;
  postLogoutUri: string;
}

/** Registers app A or B with its callback, post-logout URI and back-channel logout URI on the RP server. */
export async function registerApp(server: TestServer, rps: RelyingParties, key: AppKey, name: string): Promise<RegisteredApp> {
  const client = await createClient(server, {
    name,
    redirectUris: [rps.redirectUri(key)],
    postLogoutRedirectUris: [rps.postLogoutUri(key)],
    backchannelLogoutUri: rps.backchannelUri(key),
  });
  return { key, name, client, config: await discover(server, client), redirectUri: rps.redirectUri(key), postLogoutUri: rps.postLogoutUri(key) };
}

export interface AuthorizationRequest {
  url: URL;
  codeVerifier: string;
  state: string;
  nonce: string;
}

/** An authorization URL built by openid-client: PKCE S256, state, nonce; prompt=consent so offline_access counts. */
export async function authorizationRequest(app: RegisteredApp, extra: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(app.config, {
    redirect_uri: app.redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    prompt: 'consent',
    ...extra,
  });
  return { url, codeVerifier, state, nonce };
}

/** Clicks a submit button and waits for the page it leads to (after any redirects); returns its response. */
export async function submit(page: Page, button: Locator): Promise<Response | null> {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), button.click()]);
  return response;
}

export async function fillLogin(page: Page, username: string, password: string): Promise<Response | null> {
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  return submit(page, page.getByRole('button', { name: 'Sign in', exact: true }));
}

export async function allowConsent(page: Page): Promise<Response | null> {
  return submit(page, page.getByRole('button', { name: 'Allow', exact: true }));
}

/** True when the page is one of the issuer's sign-in or consent pages. */
export function onInteractionPage(page: Page, server: TestServer): boolean {
  const url = new URL(page.url());
  return url.origin === server.issuer && url.pathname.startsWith('/interaction/');
}

/** Redeems the code the app received with openid-client (PKCE, state, nonce and ID token claims checked). */
export async function redeem(app: RegisteredApp, request: AuthorizationRequest, callback: URL) {
  return oidc.authorizationCodeGrant(app.config, callback, {
    pkceCodeVerifier: request.codeVerifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
    idTokenExpected: true,
  });
}

/** Verifies a JWT's signature against the issuer's published keys, with issuer and audience. */
export async function verifyJwt(server: TestServer, token: string, audience: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience });
  return payload;
}

/** Where a screenshot goes: under E2E_SCREENSHOT_DIR when set (never inside the repository), else nowhere. */
export function screenshotPath(name: string): string | undefined {
  const dir = process.env.E2E_SCREENSHOT_DIR;
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

export interface E2eWorld {
  server: TestServer;
  rps: RelyingParties;
  browser: Browser;
  appA: RegisteredApp;
  appB: RegisteredApp;
  /** A page in a fresh browser context: its own cookie jar, so no scenario inherits another's session. */
  freshPage(): Promise<Page>;
}

/**
 * One server, the two relying parties A and B, and a browser for the test file; stopped after it. `options`
 * is read when the server starts (after the file's earlier beforeAll hooks, e.g. an SMTP server's).
 */
export function useE2eWorld(options: () => TestServerOptions = () => ({})): E2eWorld {
  const world = {
    async freshPage() {
      return (await world.browser.newContext()).newPage();
    },
  } as E2eWorld;
  beforeAll(async () => {
    [world.server, world.rps, world.browser] = await Promise.all([startTestServer(options()), startRelyingParties(), launchBrowser()]);
    world.appA = await registerApp(world.server, world.rps, 'a', 'Tessera E2E App A');
    world.appB = await registerApp(world.server, world.rps, 'b', 'Tessera E2E App B');
  });
  afterAll(async () => {
    await world.browser?.close();
    await world.rps?.close();
    await world.server?.stop();
  });
  return world;
}
