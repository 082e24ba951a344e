// Real OAuth client (openid-client v6) against the test server, plus a walk through the login and consent
// pages with a BrowserSession.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { runOperation } from '../../src/services/operations.ts';
import type { NewClient, ClientMetadata } from '../../src/domain/clients.ts';
import type { TestServer } from './server.ts';
import { BrowserSession, csrfField, formAction } from './browser-session.ts';

export const REDIRECT_URI = 'http://127.0.0.1:9/callback';

export async function createUser(server: TestServer, username: string, password = 'correct horse battery') {
  return runOperation(server.operations, 'user.create', { username, password, email: `${username}@example.test`, name: `${username} Example` });
}

export async function createClient(server: TestServer, input: Partial<NewClient> = {}): Promise<ClientMetadata> {
  return runOperation(server.operations, 'client.create', { name: 'Test App', redirectUris: [REDIRECT_URI], ...input });
}

export async function discover(server: TestServer, client: ClientMetadata): Promise<oidc.Configuration> {
  const auth =
    client.token_endpoint_auth_method === 'none'
      ? oidc.None()
      : client.token_endpoint_auth_method === 'client_secret_post'
        ? oidc.ClientSecretPost(client.client_secret)
        : oidc.ClientSecretBasic(client.client_secret);
  return oidc.discovery(new URL(server.issuer), client.client_id, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

export interface AuthorizationResult {
  callback: URL;
  codeVerifier: string;
  state: string;
  nonce: string;
}

/** Sends the browser through authorize → login → consent and returns the redirect to the client. */
export async function authorize(
  server: TestServer,
  config: oidc.Configuration,
  session: BrowserSession,
  options: { username?: string; password?: string; scope?: string; extra?: Record<string, string>; promptConsent?: boolean } = {},
): Promise<AuthorizationResult> {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: options.scope ?? 'openid profile email offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    // Most tests ask for consent outright; `promptConsent: false` sends no prompt, as most real clients do.
    ...(options.promptConsent === false ? {} : { prompt: 'consent' }),
    ...options.extra,
  });
  let step = await session.follow(url);
  for (let i = 0; i < 4 && step.url.origin === server.issuer; i++) {
    const html = await step.res.text();
    expect(step.res.status, html.slice(0, 300)).toBe(200);
    const csrf = csrfField(html);
    if (html.includes('name="password"')) {
      const res = await session.postForm(formAction(html), { csrf, username: options.username ?? 'alice', password: options.password ?? 'correct horse battery' });
      expect(res.status).toBe(303);
      step = await session.follow(res.headers.get('location')!);
    } else {
      // The consent page's "remember this decision" box is checked by default.
      const res = await session.postForm(formAction(html), { csrf, remember: '1' });
      expect(res.status).toBe(303);
      step = await session.follow(res.headers.get('location')!);
    }
  }
  expect(step.url.origin + step.url.pathname).toBe(REDIRECT_URI);
  return { callback: step.url, codeVerifier, state, nonce };
}

export async function exchange(config: oidc.Configuration, result: AuthorizationResult) {
  return oidc.authorizationCodeGrant(config, result.callback, {
    pkceCodeVerifier: result.codeVerifier,
    expectedState: result.state,
    expectedNonce: result.nonce,
    idTokenExpected: true,
  });
}

/** Raw form POST to an endpoint, for the cases a well-behaved client library refuses to send. */
export async function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

export function basic(client: ClientMetadata): Record<string, string> {
  const value = `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`;
  return { authorization: `Basic ${Buffer.from(value).toString('base64')}` };
}

/** A silent sign-in (prompt=none) in `session`: the URL the browser ends on (the app's, with a code or an error). */
export async function promptNone(session: BrowserSession, config: oidc.Configuration): Promise<URL> {
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    prompt: 'none',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  return (await session.follow(url)).url;
}
