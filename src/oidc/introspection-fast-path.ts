// RFC 7662 introspection of our access tokens without the engine's request pipeline: resource servers call
// it on every API request. The token is loaded through the engine's own models — for a JWT of ours that is
// no query at all (its signature checked against our keys and remembered, its revocation known in memory:
// jwt-access-tokens.ts, revocation-watch.ts), for an opaque one a single indexed read — and the grant,
// clients and account come from the engine's caches. The answer is built by the same rules as the engine's
// own (oidc-provider lib/actions/introspection.js, renderTokenResponse), so both paths say the same thing
// (test/resource-servers/introspection-fast-path.test.ts compares them key by key).
//
// Only the plain case is answered here; anything else returns undefined and the engine answers as before:
// a secret-less or assertion-authenticated client, a failed or expired secret (the engine's error, with its
// WWW-Authenticate) and a previous secret in its rotation grace, repeated or unknown parameters, a signed or
// encrypted response (RFC 9701), CORS, DPoP/attestation headers, certificate-bound or RAR tokens, pairwise
// subjects, refresh tokens, and every token that is not active for this caller (the engine's
// {"active": false}). Nothing is answered here that the engine would answer differently.
import { MAX_JWT_LENGTH, type AccessTokenVerifier } from '../domain/access-token-verifier.ts';
import { formDecode } from '../domain/wire-syntax.ts';
import { JWT_HANDLE_PREFIX } from './jwt-access-tokens.ts';
import { mayIntrospect } from './token-policies.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { LiveProvider } from './live-provider.ts';

export interface IntrospectionRequest {
  form: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
}

export interface FastIntrospection {
  /** The RFC 7662 response body. */
  body: Record<string, unknown>;
  clientId: string;
  sub: string | undefined;
}

const PARAMETERS = new Set(['token', 'token_type_hint', 'client_id', 'client_secret']);
// Headers that make the engine do something this path does not (CORS, RFC 9449 DPoP, attestation-based
// client authentication); RFC 9701's media type is checked separately.
const ENGINE_HEADERS = ['origin', 'dpop', 'oauth-client-attestation', 'oauth-client-attestation-pop'];
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);
// The engine's opaque token values: 43 base64url characters (256 bits); a little leeway either way.
const OPAQUE_TOKEN = /^[A-Za-z0-9_-]{20,128}$/;

/** The single value of every parameter, or undefined when one repeats or is not ours to answer. */
function singleParameters(form: URLSearchParams): Map<string, string> | undefined {
  const params = new Map<string, string>();
  for (const [name, value] of form) {
    if (!PARAMETERS.has(name) || params.has(name)) return undefined;
    params.set(name, value);
  }
  return params;
}

/** client_secret_basic or client_secret_post credentials, exactly one of the two. */
function secretCredentials(params: Map<string, string>, authorization: string | undefined): { clientId: string; secret: string } | undefined {
  if (authorization === undefined) {
    const clientId = params.get('client_id');
    const secret = params.get('client_secret');
    return clientId && secret ? { clientId, secret } : undefined;
  }
  if (params.has('client_id') || params.has('client_secret')) return undefined;
  const [scheme, encoded, ...rest] = authorization.split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !encoded || rest.length || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const basic = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = basic.indexOf(':');
  if (colon === -1) return undefined;
  const clientId = formDecode(basic.slice(0, colon));
  const secret = formDecode(basic.slice(colon + 1));
  return clientId && secret ? { clientId, secret } : undefined;
}

/** Constant-time comparison (of SHA-256 digests, so lengths need not match). */
function matchesCurrentSecret(expected: string | undefined, presented: string): boolean {
  if (!expected) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(expected), digest(presented));
}

/** Our access token by its value, as the engine's introspection would find it (a refresh token: undefined). */
async function findAccessToken(provider: Provider, verifier: AccessTokenVerifier, value: string, jwt: boolean) {
  if (jwt) {
    const claims = await verifier.verify(value);
    if (!claims) return undefined;
    // Tokens issued from a grant carry `gid` and are AccessTokens; client_credentials ones are not.
    const handle = `${JWT_HANDLE_PREFIX}${value}`;
    return typeof claims.gid === 'string' ? provider.AccessToken.find(handle) : provider.ClientCredentials.find(handle);
  }
  // Asked together, the two lookups share one query (store/engine-records.ts).
  const [access, credentials] = await Promise.all([provider.AccessToken.find(value), provider.ClientCredentials.find(value)]);
  return access ?? credentials;
}

export function createIntrospectionFastPath(live: LiveProvider, verifier: AccessTokenVerifier) {
  return async function introspect(request: IntrospectionRequest): Promise<FastIntrospection | undefined> {
    const { headers } = request;
    if (ENGINE_HEADERS.some((name) => headers[name] !== undefined)) return undefined;
    if (String(headers.accept ?? '').includes('token-introspection+jwt')) return undefined;

    const params = singleParameters(request.form);
    const value = params?.get('token');
    if (!params || !value) return undefined;
    // Anything with a dot can only be a JWT (the engine's opaque values are base64url); whether it is one
    // of ours is the verifier's question, asked below.
    const jwt = value.includes('.');
    if (jwt ? value.length > MAX_JWT_LENGTH : !OPAQUE_TOKEN.test(value)) return undefined;
    const hint = params.get('token_type_hint');
    if (hint !== undefined && hint !== 'access_token') return undefined;
    const authorization = headers.authorization;
    if (Array.isArray(authorization)) return undefined;
    const credentials = secretCredentials(params, authorization);
    if (!credentials) return undefined;

    const provider = live.current;
    const client = await provider.Client.find(credentials.clientId);
    if (!client || !SECRET_METHODS.has(client.clientAuthMethod ?? '')) return undefined;
    if (client.introspectionEncryptedResponseAlg || client.subjectType === 'pairwise') return undefined;
    try {
      (client as unknown as { checkClientSecretExpiration(message: string): void }).checkClientSecretExpiration('expired');
    } catch {
      return undefined;
    }
    // The current secret only, in memory: a secret in its rotation grace, or a wrong one, goes on to the
    // engine, whose comparison asks the database (secret-grace.ts) — once per request, not twice.
    if (!matchesCurrentSecret(client.clientSecret, credentials.secret)) return undefined;

    const token = await findAccessToken(provider, verifier, value, jwt);
    if (!token?.isValid || (token as { 'x5t#S256'?: string })['x5t#S256'] || (token as { rar?: unknown }).rar) return undefined;
    // RFC 9449 §6.2: a DPoP-bound token is reported with its key's thumbprint, as the engine does.
    const jkt = (token as { jkt?: string }).jkt;

    const { grantId, accountId } = token as { grantId?: string; accountId?: string };
    if (grantId) {
      const grant = await provider.Grant.find(grantId, { ignoreExpiration: true });
      if (!grant || grant.isExpired || grant.clientId !== token.clientId || grant.accountId !== accountId) return undefined;
    }
    if (!mayIntrospect(client, token)) return undefined;
    if (accountId && token.clientId !== client.clientId) {
      const owner = await provider.Client.find(token.clientId!);
      if (!owner || owner.subjectType === 'pairwise') return undefined;
    }

    // Built as the engine builds it (same keys, same order: `active`, then `sub`, then the rest).
    const body: Record<string, unknown> = { active: true };
    if (accountId) body.sub = accountId;
    Object.assign(body, {
      ...(token.extra as Record<string, unknown> | undefined),
      active: true,
      client_id: token.clientId,
      exp: token.exp,
      iat: token.iat,
      sid: (token as { sid?: string }).sid,
      iss: provider.issuer,
      // An opaque token's jti is the token itself, which the engine does not echo.
      jti: token.jti !== value ? token.jti : undefined,
      aud: token.aud,
      scope: token.scope || undefined,
      cnf: jkt ? { jkt } : undefined,
      token_type: token.tokenType,
    });
    return { body, clientId: client.clientId, sub: accountId };
  };
}

export type IntrospectionFastPath = ReturnType<typeof createIntrospectionFastPath>;
