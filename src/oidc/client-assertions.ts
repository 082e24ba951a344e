// Lifetime of JWT client assertions (private_key_jwt, RFC 7523 §3 / OpenID Connect Core §9). The engine
// requires exp and a jti it remembers until exp, but accepts any exp: an assertion minted for hours can be
// kept and used by whoever copies it, any time before its first use. RFC 7523 §3 leaves the limit to the
// server ("MAY reject JWTs with an exp claim value that is unreasonably far in the future"). Client
// libraries mint assertions for a minute (openid-client: 60 s) right before each request; five minutes also
// covers a slow retry. The limit bounds the replay window and how long each jti is remembered.
// Runs as the engine's assertJwtClientAuthClaimsAndHeader hook, after the signature, iss, aud and exp checks
// and before the jti is recorded (oidc-provider lib/shared/jwt_client_auth.js); its default only adds a
// FAPI 2.0 audience rule, and no FAPI profile is enabled here.
import { errors, type Configuration } from 'oidc-provider';

/** Longest accepted lifetime of a client assertion, exp − iat, in seconds. */
export const MAX_CLIENT_ASSERTION_LIFETIME = 300;

type AssertionHook = NonNullable<Configuration['assertJwtClientAuthClaimsAndHeader']>;

export function limitClientAssertionLifetime(clockToleranceSeconds: number): AssertionHook {
  return (_ctx, claims) => {
    const { iat, exp } = claims;
    // Without iat the lifetime is unknown: a long-lived assertion would pass in its last minutes.
    if (typeof iat !== 'number') throw new errors.InvalidClientAuth('iat (issued at) must be provided in the client_assertion JWT');
    if (typeof exp !== 'number') throw new errors.InvalidClientAuth('expiration must be specified in the client_assertion JWT');
    const now = Math.floor(Date.now() / 1000);
    if (iat > now + clockToleranceSeconds) throw new errors.InvalidClientAuth('client_assertion JWT issued in the future');
    if (exp - iat > MAX_CLIENT_ASSERTION_LIFETIME || exp > now + MAX_CLIENT_ASSERTION_LIFETIME + clockToleranceSeconds) {
      throw new errors.InvalidClientAuth(`client_assertion JWT lifetime must be at most ${MAX_CLIENT_ASSERTION_LIFETIME} seconds (exp - iat)`);
    }
  };
}
