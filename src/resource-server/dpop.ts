// RFC 9449 DPoP at the API: a token bound to a key (`cnf.jkt`) is worth nothing without that key. For such a
// token, every request must carry `Authorization: DPoP <token>` and a `DPoP` proof: a JWT signed by the
// client's private key over this request. The checks are RFC 9449 §4.3 and §7.1:
//   1. one DPoP header holding one well-formed JWT (at most MAX_PROOF_LENGTH characters);
//   2. `typ` dpop+jwt, an asymmetric `alg` from the allow-list, signed by the public key in its `jwk` header
//      (never a private key: jose's EmbeddedJWK refuses one);
//   3. `jti` (string), `htm` = the request's method, `htu` = the request's URL without query and fragment,
//      `iat` within the acceptance window (maxAgeSeconds back, the clock tolerance forward);
//   4. `ath` = base64url(SHA-256(access token)): the proof was made for this token;
//   5. the thumbprint (RFC 7638) of `jwk` = the token's `cnf.jkt`;
//   6. the `jti` was not seen before within the window (replay cache, bounded in size and time).
// A bound token presented as a Bearer token is refused (RFC 9449 §7.2), and so is an unbound token presented
// under the DPoP scheme (it claims a binding it does not have). Expected outcomes are results, not exceptions.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify, type JWK } from 'jose';
import type { AccessTokenClaims, DPoPOptions, ProofRequest, ProofResult, TokenValidator } from './types.ts';

/** RFC 9449 §4.2: asymmetric only. The default allow-list; an API may narrow it. */
export const DPOP_DEFAULT_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'];
const ASYMMETRIC = new Set(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519']);
export const MAX_PROOF_LENGTH = 8 * 1024;
const MAX_JTI_LENGTH = 256;

/** RFC 9449 §6.1: the thumbprint a bound token carries, or undefined for a plain bearer token. */
export function boundKeyOf(claims: AccessTokenClaims): string | undefined {
  const cnf = claims.cnf;
  if (typeof cnf !== 'object' || cnf === null) return undefined;
  const jkt = (cnf as Record<string, unknown>).jkt;
  return typeof jkt === 'string' && jkt.length > 0 ? jkt : undefined;
}

/** RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII value. */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

/** RFC 9449 §4.3 item 9: the URL without query and fragment, normalised (scheme and host case, default port). */
export function htuOf(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  url.search = '';
  url.hash = '';
  return url.href;
}

/** The URL the client called, as `htu` must name it: the public origin (behind a proxy) with the request's path. */
function requestHtu(url: string, publicOrigin: string | undefined): string | undefined {
  const received = htuOf(url);
  if (!received || !publicOrigin) return received;
  return htuOf(`${publicOrigin}${new URL(received).pathname}`);
}

export interface ReplayCache {
  /** True the first time (jkt, jti) is seen within its window; false for a replay or a proof too old to judge. */
  firstUse(jkt: string, jti: string, iat: number, expiresAt: number): boolean;
  size(): number;
}

/**
 * Seen proofs until their acceptance window closes. Bounded: when full, the oldest entry is dropped and every
 * proof issued at or before its `iat` is refused from then on (it might be a replay of one forgotten), so the
 * bound never turns into a way to replay. Legitimate clients make fresh proofs, which are newer than that.
 */
export function createReplayCache(maxEntries: number, now: () => number): ReplayCache {
  const seen = new Map<string, { iat: number; expiresAt: number }>();
  let forgottenUpTo = -Infinity;
  function prune() {
    const t = now();
    for (const [key, entry] of seen) {
      if (entry.expiresAt > t) break; // insertion order is close to expiry order; the rest go on a later call
      seen.delete(key);
    }
  }
  return {
    firstUse(jkt, jti, iat, expiresAt) {
      prune();
      if (iat <= forgottenUpTo) return false;
      const key = `${jkt} ${jti}`;
      if (seen.has(key)) return false;
      seen.set(key, { iat, expiresAt });
      while (seen.size > maxEntries) {
        const [oldest, entry] = seen.entries().next().value!;
        seen.delete(oldest);
        if (entry.expiresAt > now()) forgottenUpTo = Math.max(forgottenUpTo, entry.iat);
      }
      return true;
    },
    size: () => seen.size,
  };
}

export interface DPoPVerifierSettings {
  algorithms: string[];
  maxAgeSeconds: number;
  clockToleranceSeconds: number;
  replayCacheSize: number;
  /** Replaces the request URL's origin when the API sits behind a proxy (e.g. "https://api.example.com"). */
  publicOrigin: string | undefined;
  /** Seconds since the epoch. */
  now: () => number;
  /** RFC 9449 §9 nonces, when the API issues them. */
  nonceSecret: string | undefined;
}

const NONCE_STEP_SECONDS = 60;

/** RFC 9449 §9: nonces derived from a secret and the minute, so every process of the API agrees without state. */
export function createNonces(secret: string, now: () => number) {
  const at = (step: number) => createHmac('sha256', secret).update(`tessera dpop nonce ${step}`).digest('base64url');
  const step = () => Math.floor(now() / NONCE_STEP_SECONDS);
  return {
    current: () => at(step()),
    /** The current minute's nonce or the previous one (a proof made just before the minute turned). */
    accepts(nonce: unknown): boolean {
      if (typeof nonce !== 'string') return false;
      const given = Buffer.from(nonce);
      // Bytes, not characters: timingSafeEqual throws on buffers of different lengths.
      if (given.length !== 43) return false;
      return [step(), step() - 1].some((s) => timingSafeEqual(Buffer.from(at(s)), given));
    },
  };
}

/** Checks options once (programming errors throw); undefined values take the defaults. */
export function dpopSettings(options: DPoPOptions | undefined, clockToleranceSeconds: number): DPoPVerifierSettings {
  const algorithms = options?.algorithms ?? DPOP_DEFAULT_ALGORITHMS;
  if (!algorithms.length || algorithms.some((a) => !ASYMMETRIC.has(a))) throw new TypeError('createTokenValidator: dpop.algorithms must be asymmetric JWS algorithms');
  const maxAgeSeconds = options?.maxAgeSeconds ?? 60;
  if (!(maxAgeSeconds >= 1 && maxAgeSeconds <= 600)) throw new TypeError('createTokenValidator: dpop.maxAgeSeconds must be between 1 and 600');
  const replayCacheSize = options?.replayCacheSize ?? 100_000;
  if (!Number.isInteger(replayCacheSize) || replayCacheSize < 1) throw new TypeError('createTokenValidator: dpop.replayCacheSize must be a positive integer');
  let publicOrigin: string | undefined;
  if (options?.publicOrigin !== undefined) {
    try {
      publicOrigin = new URL(options.publicOrigin).origin;
    } catch {
      throw new TypeError('createTokenValidator: dpop.publicOrigin must be an absolute URL');
    }
  }
  const nonceSecret = options?.nonceSecret;
  if (nonceSecret !== undefined && (typeof nonceSecret !== 'string' || nonceSecret.length < 32)) throw new TypeError('createTokenValidator: dpop.nonceSecret must be at least 32 characters');
  return { algorithms, maxAgeSeconds, clockToleranceSeconds, replayCacheSize, publicOrigin, now: options?.now ?? (() => Date.now() / 1000), nonceSecret };
}

export function createDPoPVerifier(settings: DPoPVerifierSettings) {
  const replays = createReplayCache(settings.replayCacheSize, settings.now);
  const nonces = settings.nonceSecret ? createNonces(settings.nonceSecret, settings.now) : undefined;
  const bad = (description: string, detail?: string): ProofResult => ({ ok: false, error: 'invalid_dpop_proof', description, ...(detail ? { detail } : {}) });

  return {
    algorithms: settings.algorithms,
    replays,

    /** RFC 9449 §4.3 and §7.1: the proof in `request` for `token`, which is bound to `jkt`. */
    async verify(request: ProofRequest, token: string, jkt: string): Promise<ProofResult> {
      const proof = request.proof;
      if (proof === undefined || proof === '') return bad('A DPoP proof is required for this access token');
      // Node joins repeated headers with ", ": neither appears in a compact JWS.
      if (Array.isArray(proof) || proof.includes(',') || proof.includes(' ')) return bad('Exactly one DPoP proof is allowed');
      if (proof.length > MAX_PROOF_LENGTH) return bad('The DPoP proof is malformed', 'proof too long');

      let payload: Record<string, unknown>;
      let jwk: JWK;
      try {
        // Refuses alg none and symmetric algorithms before anything else is read.
        const alg = decodeProtectedHeader(proof).alg;
        if (typeof alg !== 'string' || !settings.algorithms.includes(alg)) return bad('The DPoP proof is signed with an algorithm that is not accepted', `alg ${String(alg)}`);
        const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: settings.algorithms });
        payload = verified.payload as Record<string, unknown>;
        jwk = verified.protectedHeader.jwk as JWK;
      } catch (error) {
        if (error instanceof errors.JOSEError || error instanceof TypeError) return bad('The DPoP proof is invalid', (error as Error).message);
        throw error;
      }

      const { jti, htm, htu, iat, ath } = payload;
      if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) return bad('The DPoP proof lacks a valid jti');
      if (typeof htm !== 'string' || htm !== request.method.toUpperCase()) return bad('The DPoP proof was made for another HTTP method');
      const expectedUrl = requestHtu(request.url, settings.publicOrigin);
      if (typeof htu !== 'string' || expectedUrl === undefined || htuOf(htu) !== expectedUrl) return bad('The DPoP proof was made for another URL');
      if (typeof iat !== 'number' || !Number.isFinite(iat)) return bad('The DPoP proof lacks iat');
      const now = settings.now();
      if (iat > now + settings.clockToleranceSeconds || iat < now - settings.maxAgeSeconds - settings.clockToleranceSeconds) return bad('The DPoP proof is not recent', `iat ${iat}, now ${Math.floor(now)}`);
      if (typeof ath !== 'string' || ath !== accessTokenHash(token)) return bad('The DPoP proof was made for another access token');

      let thumbprint: string;
      try {
        thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
      } catch (error) {
        return bad('The DPoP proof is invalid', (error as Error).message);
      }
      if (thumbprint !== jkt) return { ok: false, error: 'invalid_token', description: 'The access token is bound to another key' };
      // RFC 9449 §9: asked for only once the proof is otherwise good, so the retry is the client's only step.
      if (nonces && !nonces.accepts(payload.nonce)) return { ok: false, error: 'use_dpop_nonce', description: 'The DPoP proof must carry the nonce this API issued', nonce: nonces.current() };

      // Last, so that only a proof that passed every other check takes a place in the cache.
      const expiresAt = iat + settings.maxAgeSeconds + 2 * settings.clockToleranceSeconds;
      if (!replays.firstUse(jkt, jti, iat, expiresAt)) return bad('The DPoP proof was already used');
      return { ok: true, jkt: thumbprint };
    },
  };
}

export type DPoPVerifier = ReturnType<typeof createDPoPVerifier>;

/** RFC 9449 §7.1: the DPoP challenge, with the algorithms this API accepts. */
export function dpopChallenge(algorithms: string[], params: Record<string, string> = {}): string {
  const quoted = (v: string) => `"${v.replace(/["\\]/g, '')}"`;
  return ['DPoP', [...Object.entries(params).map(([k, v]) => `${k}=${quoted(v)}`), `algs=${quoted(algorithms.join(' '))}`].join(', ')].join(' ');
}

// RFC 9449 §7.1: token68 syntax, as for Bearer.
const DPOP_SCHEME = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** `Authorization: DPoP <token>`: the token, null for a malformed value, undefined for another scheme. */
export function dpopToken(authorization: string): string | null | undefined {
  if (!/^DPoP(\s|$)/i.test(authorization)) return undefined;
  return DPOP_SCHEME.exec(authorization)?.[1] ?? null;
}

/**
 * RFC 9449 §7.1 and §7.2: whether the token may be used the way it was presented. A bound token needs the DPoP
 * scheme and a valid proof; an unbound one the Bearer scheme. A validator that cannot check proofs (one not
 * made by createTokenValidator) accepts no bound token.
 */
export async function checkBinding(
  checkProof: TokenValidator['checkProof'],
  presented: { scheme: 'bearer' | 'dpop'; token: string; claims: AccessTokenClaims },
  request: ProofRequest | undefined,
): Promise<ProofResult | { ok: true; jkt?: undefined }> {
  const jkt = boundKeyOf(presented.claims);
  // Fail closed: a confirmation this module cannot check (RFC 8705 `x5t#S256`, a malformed `cnf`) is not ignored.
  if (!jkt && presented.claims.cnf !== undefined) return { ok: false, error: 'invalid_token', description: 'The access token is bound in a way this API cannot check' };
  if (!jkt) {
    if (presented.scheme === 'bearer') return { ok: true };
    return { ok: false, error: 'invalid_token', description: 'The access token is not bound to a key; send it as a Bearer token' };
  }
  if (presented.scheme === 'bearer') return { ok: false, error: 'invalid_token', description: 'The access token is bound to a key: send it with the DPoP scheme and a DPoP proof' };
  if (!request || !checkProof) return { ok: false, error: 'invalid_dpop_proof', description: 'DPoP proofs cannot be checked for this request' };
  return checkProof(request, presented.token, jkt);
}
