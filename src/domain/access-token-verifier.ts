// Local verification of our JWT access tokens (RFC 9068) with our own published keys — for introspection
// (the engine does not store JWT access tokens) and for the revocation feed's bearer tokens.
// RFC 8725: an explicit algorithm allow-list of asymmetric algorithms only, so `alg: none` and an HS256
// token "signed" with our public key are both rejected; `typ` must be at+jwt (RFC 9068 §4).
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JSONWebKeySet } from 'jose';
import type { Db } from '../store/db.ts';
import { listKeys } from '../store/keys.ts';
import { SIGNING_ALGORITHMS } from './keys.ts';

export interface AccessTokenClaims extends JWTPayload {
  jti: string;
  client_id: string;
  scope?: string;
  gid?: string;
}

const RELOAD_AFTER_MS = 30_000;
/** Verified tokens remembered per process (resource servers introspect the same token again and again). */
const VERIFIED_LIMIT = 10_000;

/** Longer values are not taken for one of our JWTs (ours are well under 2 KB). */
export const MAX_JWT_LENGTH = 16 * 1024;

export function looksLikeJwt(value: string): boolean {
  if (value.length > MAX_JWT_LENGTH || value.split('.').length !== 3) return false;
  try {
    decodeProtectedHeader(value);
    return true;
  } catch {
    return false;
  }
}

export function createAccessTokenVerifier(db: Db, issuer: string) {
  let jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  let kids = new Set<string>();
  let loadedAt = 0;
  // token → claims, for tokens whose signature verified. Only the signature check is skipped on a hit:
  // expiry is re-checked here and revocation by every caller. Cleared whenever the key set is reloaded,
  // so a key that disappears (emergency rotation) takes its tokens with it.
  const verified = new Map<string, AccessTokenClaims>();

  async function load(): Promise<void> {
    verified.clear();
    const rows = await listKeys(db, 'signing');
    const set: JSONWebKeySet = { keys: rows.filter((r) => r.publicJwk).map((r) => r.publicJwk as JSONWebKeySet['keys'][number]) };
    jwks = createLocalJWKSet(set);
    kids = new Set(rows.map((r) => r.kid));
    loadedAt = Date.now();
  }

  return {
    /** Forget the key set and every verified token: the next verification reloads (after a rotation). */
    invalidate() {
      jwks = undefined;
      verified.clear();
    },
    /** The verified claims, or undefined for anything not a valid, unexpired access token of ours. */
    async verify(token: string, options: { audience?: string } = {}): Promise<AccessTokenClaims | undefined> {
      const known = verified.get(token);
      if (known && Date.now() - loadedAt <= RELOAD_AFTER_MS) {
        const now = Math.floor(Date.now() / 1000);
        if (known.exp! <= now) return undefined;
        if (options.audience && !(Array.isArray(known.aud) ? known.aud : [known.aud]).includes(options.audience)) return undefined;
        return known;
      }
      let kid: string | undefined;
      try {
        kid = decodeProtectedHeader(token).kid;
      } catch {
        return undefined;
      }
      // A key we have not seen yet may come from a rotation in another process: reload, at most so often.
      if (!jwks || (kid && !kids.has(kid) && Date.now() - loadedAt > 1_000) || Date.now() - loadedAt > RELOAD_AFTER_MS) await load();
      try {
        const { payload } = await jwtVerify(token, jwks!, {
          issuer,
          typ: 'at+jwt',
          algorithms: [...SIGNING_ALGORITHMS],
          requiredClaims: ['exp', 'iat', 'jti', 'client_id'],
          ...(options.audience ? { audience: options.audience } : {}),
        });
        if (verified.size >= VERIFIED_LIMIT) verified.delete(verified.keys().next().value!);
        verified.set(token, payload as AccessTokenClaims);
        return payload as AccessTokenClaims;
      } catch (error) {
        if (error instanceof errors.JOSEError || error instanceof TypeError) return undefined;
        throw error;
      }
    },
  };
}

export type AccessTokenVerifier = ReturnType<typeof createAccessTokenVerifier>;
