// Local verification of RFC 9068 JWT access tokens with the issuer's published keys.
// - Keys: the discovery document's jwks_uri through jose's createRemoteJWKSet, which caches the set,
//   refreshes it after jwksCacheMaxAgeSeconds, and refetches it when a token names an unknown `kid` (key
//   rollover), at most once per cooldown. When a refresh fails (issuer down), verification goes on with
//   the last set fetched (stale-if-error); only a `kid` missing from it is then `unavailable`.
// - RFC 8725 / RFC 9068 §4: an allow-list of asymmetric algorithms (so `alg: none` and an HS256 token
//   "signed" with a public key both fail), `typ` at+jwt, exact `iss`, `aud` containing this API, exp/nbf.
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose';
import type { Discovery } from './discovery.ts';
import type { AccessTokenClaims, FetchFunction, RejectReason, ValidationResult } from './types.ts';

export const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'] as const;
export const DEFAULT_ALGORITHMS = ['ES256', 'RS256', 'EdDSA'];

/** RFC 9068 §2.2: claims every access token carries. */
const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'];

/** While the issuer is unreachable, its key set is asked for again at most this often. */
const STALE_RETRY_MS = 10_000;

/** Longest token accepted at all; anything bigger is refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

export interface LocalVerifierOptions {
  issuer: string;
  audience: string;
  algorithms: string[];
  clockToleranceSeconds: number;
  jwksCooldownSeconds: number;
  jwksCacheMaxAgeSeconds: number;
  timeoutMs: number;
  discovery: Discovery;
  fetch: FetchFunction;
}

/** The key set could not be fetched: the issuer is unreachable, not the token bad. */
class KeysUnavailable extends Error {}

function rejection(reason: RejectReason, detail: string): ValidationResult {
  return { ok: false, reason, detail };
}

function classify(error: unknown): ValidationResult {
  if (error instanceof KeysUnavailable) return rejection('unavailable', error.message);
  if (error instanceof errors.JWTExpired) return rejection('expired', error.message);
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return rejection('missing_claim', error.message);
    const byClaim: Record<string, RejectReason> = { typ: 'wrong_type', iss: 'wrong_issuer', aud: 'wrong_audience', nbf: 'not_yet_valid' };
    return rejection(byClaim[error.claim] ?? 'malformed', error.message);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return rejection('algorithm_not_allowed', error.message);
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return rejection('unknown_key', error.message);
  if (error instanceof errors.JWSSignatureVerificationFailed) return rejection('invalid_signature', error.message);
  // JWSInvalid, JWTInvalid, JOSENotSupported, and the TypeErrors jose throws for unusable input.
  if (error instanceof errors.JOSEError || error instanceof TypeError) return rejection('malformed', error.message);
  throw error;
}

/** Types of the claims jose leaves unchecked; a token with a numeric jti is not one of ours. */
function claimTypesProblem(p: Record<string, unknown>): string | undefined {
  for (const name of ['sub', 'jti', 'client_id']) if (typeof p[name] !== 'string') return `"${name}" must be a string`;
  for (const name of ['scope', 'gid']) if (p[name] !== undefined && typeof p[name] !== 'string') return `"${name}" must be a string`;
  return undefined;
}

export function createLocalVerifier(options: LocalVerifierOptions) {
  let keys: JWTVerifyGetKey | undefined;
  let remote: RemoteJWKSet | undefined;

  async function keySet(): Promise<JWTVerifyGetKey> {
    if (keys) return keys;
    let jwksUri: string;
    try {
      jwksUri = (await options.discovery.get()).jwks_uri;
    } catch (error) {
      throw new KeysUnavailable(`issuer metadata unavailable: ${(error as Error).message}`);
    }
    const set = (remote = createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: options.timeoutMs,
      cooldownDuration: options.jwksCooldownSeconds * 1000,
      cacheMaxAge: options.jwksCacheMaxAgeSeconds * 1000,
      [customFetch]: options.fetch,
    }));
    const isNoMatch = (e: unknown) => e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys;
    // After a failed refresh, the last good set is used without asking the issuer again for a while, so
    // that an unreachable issuer does not add a timeout to every request.
    let stale: { keys: JWTVerifyGetKey; until: number; cause: Error } | undefined;
    const fromStale = async (s: NonNullable<typeof stale>, header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1]) => {
      try {
        return await s.keys(header, token);
      } catch (error) {
        // A key we have never seen cannot be judged while the issuer is unreachable.
        throw isNoMatch(error) ? new KeysUnavailable(`signing keys unavailable: ${s.cause.message}`, { cause: s.cause }) : error;
      }
    };
    keys = async (header, token) => {
      if (stale && Date.now() < stale.until) return fromStale(stale, header, token);
      try {
        const key = await set(header, token);
        stale = undefined;
        return key;
      } catch (error) {
        if (isNoMatch(error)) throw error;
        const cached = set.jwks();
        if (!cached) throw new KeysUnavailable(`signing keys unavailable: ${(error as Error).message}`, { cause: error });
        // The issuer being down must not make good tokens bad: keys already known go on verifying.
        stale = { keys: createLocalJWKSet(cached), until: Date.now() + STALE_RETRY_MS, cause: error as Error };
        return fromStale(stale, header, token);
      }
    };
    return keys;
  }

  return {
    /** Fetches discovery and the key set ahead of the first request; rejects if the issuer cannot be reached. */
    async warmUp(): Promise<void> {
      await keySet();
      if (remote!.jwks()) return;
      try {
        await remote!.reload();
      } catch (error) {
        throw new KeysUnavailable(`signing keys unavailable: ${(error as Error).message}`, { cause: error });
      }
    },

    async verify(token: string): Promise<ValidationResult> {
      if (token.length > MAX_TOKEN_LENGTH) return rejection('malformed', 'token is too long');
      try {
        const { payload } = await jwtVerify(token, await keySet(), {
          issuer: options.issuer,
          audience: options.audience,
          typ: 'at+jwt',
          algorithms: options.algorithms,
          clockTolerance: options.clockToleranceSeconds,
          requiredClaims: REQUIRED_CLAIMS,
        });
        const problem = claimTypesProblem(payload);
        if (problem) return rejection('malformed', problem);
        return { ok: true, claims: payload as AccessTokenClaims };
      } catch (error) {
        return classify(error);
      }
    },
  };
}

export type LocalVerifier = ReturnType<typeof createLocalVerifier>;
