// Local verification of RFC 9068 JWT access tokens with the issuer's published keys.
// - Keys: the discovery document's jwks_uri through jose's createRemoteJWKSet, which caches the set and
//   refetches it when a token names an unknown `kid` (key rollover), at most once per cooldown.
// - RFC 8725 / RFC 9068 §4: an allow-list of asymmetric algorithms (so `alg: none` and an HS256 token
//   "signed" with a public key both fail), `typ` at+jwt, exact `iss`, `aud` containing this API, exp/nbf.
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Discovery } from './discovery.ts';
import type { AccessTokenClaims, FetchFunction, RejectReason, ValidationResult } from './types.ts';

export const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'] as const;
export const DEFAULT_ALGORITHMS = ['ES256', 'RS256', 'EdDSA'];

/** RFC 9068 §2.2: claims every access token carries. */
const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'];

/** Longest token accepted at all; anything bigger is refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

export interface LocalVerifierOptions {
  issuer: string;
  audience: string;
  algorithms: string[];
  clockToleranceSeconds: number;
  jwksCooldownSeconds: number;
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

  async function keySet(): Promise<JWTVerifyGetKey> {
    if (keys) return keys;
    let jwksUri: string;
    try {
      jwksUri = (await options.discovery.get()).jwks_uri;
    } catch (error) {
      throw new KeysUnavailable(`issuer metadata unavailable: ${(error as Error).message}`);
    }
    const remote = createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: options.timeoutMs,
      cooldownDuration: options.jwksCooldownSeconds * 1000,
      [customFetch]: options.fetch,
    });
    // Everything but "no such key" means the set could not be fetched or read.
    keys = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
        throw new KeysUnavailable(`signing keys unavailable: ${(error as Error).message}`, { cause: error });
      }
    };
    return keys;
  }

  return {
    /** Fetches discovery and the key set ahead of the first request. */
    async warmUp(): Promise<void> {
      await keySet();
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
