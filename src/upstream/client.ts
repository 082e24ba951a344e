// The upstream side of a brokered sign-in, with openid-client: authorization code + PKCE (S256), `state` and
// `nonce` checked, the ID token validated, and the RFC 9207 `iss` response parameter honoured (openid-client
// checks it, and requires it when the upstream advertises support). GitHub is plain OAuth 2: its profile
// comes from its user API instead of an ID token. Upstream tokens are used here once and never kept.
// openid-client loads with the first brokered sign-in: a server without upstreams never holds it.
import type * as OpenIdClient from 'openid-client';
import type { SecretBox } from '../domain/secret-box.ts';
import { upstreamClientSecret } from '../domain/upstreams.ts';
import type { UpstreamProfile } from '../domain/federated-sign-in.ts';
import type { UpstreamRow } from '../store/upstreams.ts';
import { fetchGitHubProfile, GITHUB_SERVER } from './github.ts';

export interface UpstreamChecks {
  state: string;
  nonce: string | undefined;
  codeVerifier: string;
}

export interface UpstreamClientOptions {
  box: SecretBox;
  /** Where upstreams send people back: `${issuer}/upstream/<id>/callback`. */
  callbackUrl(upstreamId: string): string;
  /** Development and tests only: allow http issuers (loopback). */
  allowHttp: boolean;
  /** Seconds for each request to the upstream (UPSTREAM_TIMEOUT; default 5). */
  timeoutSeconds?: number;
}

const DISCOVERY_TTL_MS = 10 * 60_000;

let loaded: typeof OpenIdClient | undefined;
let loading: Promise<typeof OpenIdClient> | undefined;
const openIdClient = async () => (loaded ??= await (loading ??= import('openid-client')));

export function createUpstreamClient(options: UpstreamClientOptions) {
  const cache = new Map<string, { config: OpenIdClient.Configuration; at: number }>();
  const timeout = options.timeoutSeconds ?? 5;

  async function configuration(upstream: UpstreamRow): Promise<OpenIdClient.Configuration> {
    // Keyed by everything that shapes the configuration, so an operator's change applies at once.
    const key = JSON.stringify([upstream.id, upstream.kind, upstream.issuer, upstream.clientId, upstream.clientSecretSealed]);
    const cached = cache.get(key);
    if (cached && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.config;
    const oidc = await openIdClient();
    const secret = upstreamClientSecret(options.box, upstream);
    let config: OpenIdClient.Configuration;
    if (upstream.kind === 'github') {
      config = new oidc.Configuration(GITHUB_SERVER, upstream.clientId, secret, oidc.ClientSecretPost(secret));
    } else {
      config = await oidc.discovery(new URL(upstream.issuer!), upstream.clientId, secret, oidc.ClientSecretBasic(secret), {
        timeout,
        ...(options.allowHttp ? { execute: [oidc.allowInsecureRequests] } : {}),
      });
    }
    config.timeout = timeout;
    if (options.allowHttp) oidc.allowInsecureRequests(config);
    cache.set(key, { config, at: Date.now() });
    return config;
  }

  return {
    /** The URL to send the person to, and the checks to keep (in a signed cookie) until they return. */
    async start(upstream: UpstreamRow): Promise<{ url: URL; checks: UpstreamChecks }> {
      const config = await configuration(upstream);
      const oidc = await openIdClient();
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = upstream.kind === 'github' ? undefined : oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: options.callbackUrl(upstream.id),
        scope: upstream.scopes,
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        ...(nonce ? { nonce } : {}),
      });
      return { url, checks: { state, nonce, codeVerifier } };
    },

    /** Exchanges the code and returns who the person is at the upstream. Throws on anything amiss. */
    async finish(upstream: UpstreamRow, query: URLSearchParams, checks: UpstreamChecks): Promise<UpstreamProfile> {
      const config = await configuration(upstream);
      const oidc = await openIdClient();
      const currentUrl = new URL(options.callbackUrl(upstream.id));
      currentUrl.search = query.toString();
      const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        ...(checks.nonce ? { expectedNonce: checks.nonce } : {}),
        idTokenExpected: upstream.kind !== 'github',
      });
      if (upstream.kind === 'github') return fetchGitHubProfile(tokens.access_token, timeout);
      const claims = { ...(tokens.claims() as Record<string, unknown>) };
      // The ID token may be thin (e.g. no email): the userinfo endpoint completes it, for the same subject.
      if (claims.email === undefined && config.serverMetadata().userinfo_endpoint) {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub as string);
        for (const [k, v] of Object.entries(info)) if (!(k in claims)) claims[k] = v;
      }
      return {
        subject: claims.sub as string,
        claims,
        email: typeof claims.email === 'string' ? claims.email : undefined,
        emailVerified: claims.email_verified === true,
      };
    },
  };
}

export type UpstreamClient = ReturnType<typeof createUpstreamClient>;

/**
 * How an upstream failure reads to the person: refused by them, unreachable, or an invalid answer. (An
 * openid-client error exists only once openid-client has loaded.)
 */
export function describeUpstreamFailure(error: unknown): 'denied' | 'unreachable' | 'invalid' {
  if (loaded && error instanceof loaded.AuthorizationResponseError) return error.error === 'access_denied' ? 'denied' : 'invalid';
  if (error instanceof TypeError && /fetch failed/.test(error.message)) return 'unreachable';
  const e = error as { name?: string; code?: string; cause?: unknown };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'unreachable';
  if (e?.code === 'OAUTH_TIMEOUT' || e?.code === 'ECONNREFUSED') return 'unreachable';
  const cause = e?.cause as { code?: string; name?: string } | undefined;
  if (cause && (cause.code === 'ECONNREFUSED' || cause.name === 'TimeoutError' || cause.code === 'UND_ERR_CONNECT_TIMEOUT')) return 'unreachable';
  return 'invalid';
}
