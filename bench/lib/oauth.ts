// The client side the workloads need, run in the parent before measuring: the authorization-code flow with
// PKCE (through Tessera's real sign-in and consent pages, or the bare engine's one-step interaction), the
// code exchange, and small form-POST helpers.
import { createHash, randomBytes } from 'node:crypto';
import { BrowserSession, csrfField, formAction } from '../../test/helpers/browser-session.ts';

export interface ClientCredentials {
  id: string;
  secret: string;
}

export interface TokenSet {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  token_type: string;
  expires_in: number;
  scope?: string;
}

export function basicAuth(client: ClientCredentials): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}`;
}

export const FORM = 'application/x-www-form-urlencoded';

export async function postForm(url: string, fields: Record<string, string>, client: ClientCredentials): Promise<{ status: number; body: string; json: Record<string, unknown> | undefined }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: basicAuth(client), accept: 'application/json' },
    body: new URLSearchParams(fields).toString(),
  });
  const body = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: res.status, body, json };
}

export interface CodeFlowOptions {
  issuer: string;
  client: ClientCredentials;
  redirectUri: string;
  scope: string;
  /** Tessera's sign-in page; the bare engine signs everyone in without asking. */
  login?: { username: string; password: string };
}

/**
 * One person, one browser, one grant: authorize → sign in → consent → code → tokens. A fresh browser session
 * each time, so every token set belongs to its own grant (as with separate devices).
 */
export async function codeFlow(options: CodeFlowOptions): Promise<TokenSet> {
  const { issuer, client, redirectUri } = options;
  const session = new BrowserSession(issuer);
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(12).toString('base64url');
  const url = new URL('/auth', issuer);
  url.search = new URLSearchParams({
    client_id: client.id,
    response_type: 'code',
    scope: options.scope,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce: randomBytes(12).toString('base64url'),
    prompt: 'consent',
  }).toString();

  let step = await session.follow(url);
  for (let i = 0; i < 4 && step.url.origin === new URL(issuer).origin; i++) {
    const html = await step.res.text();
    if (step.res.status !== 200) throw new Error(`authorization step ${step.url.pathname} answered ${step.res.status}: ${html.slice(0, 300)}`);
    const csrf = csrfField(html);
    const fields: Record<string, string> = html.includes('name="password"')
      ? { csrf, username: options.login?.username ?? '', password: options.login?.password ?? '' }
      : { csrf, remember: '1' };
    const res = await session.postForm(formAction(html), fields);
    if (res.status !== 303) throw new Error(`form post at ${step.url.pathname} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    step = await session.follow(res.headers.get('location')!);
  }
  const callback = step.url;
  if (callback.origin + callback.pathname !== redirectUri) throw new Error(`authorization ended at ${callback.href} (status ${step.res.status})`);
  if (callback.searchParams.get('error')) throw new Error(`authorization error: ${callback.searchParams.get('error')}: ${callback.searchParams.get('error_description')}`);
  if (callback.searchParams.get('state') !== state) throw new Error('state mismatch');
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code in ${callback.href}`);

  const token = await postForm(`${issuer}/token`, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }, client);
  if (token.status !== 200 || !token.json?.access_token) throw new Error(`code exchange answered ${token.status}: ${token.body.slice(0, 300)}`);
  return token.json as unknown as TokenSet;
}

/** `count` independent token sets, `parallel` flows at a time. */
export async function codeFlows(options: CodeFlowOptions, count: number, parallel = 4): Promise<TokenSet[]> {
  const results: TokenSet[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await codeFlow(options);
      }
    }),
  );
  return results;
}

export function jwtHeader(token: string): Record<string, unknown> | undefined {
  const [header, , , extra] = token.split('.');
  if (!header || extra !== undefined || token.split('.').length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
