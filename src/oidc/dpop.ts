// RFC 9449 DPoP at the engine (oidc-provider docs/README.md, features.dPoP). The engine does the protocol:
// it verifies proofs at the token, userinfo and PAR endpoints, binds access tokens to the proof's key
// (`cnf.jkt`, token_type DPoP), binds the refresh tokens of public clients too (RFC 9449 §5: a confidential
// client's refresh token is bound by its authentication instead), refuses a replayed proof `jti`
// (ReplayDetection rows in the tokens table, so every process sees them), and honours the client metadata
// `dpop_bound_access_tokens` (RFC 9449 §5.2: that client gets no token without a proof). What Tessera adds:
// - server nonces (RFC 9449 §8): the nonce secret is derived from TESSERA_SECRET, so every process of an
//   instance issues and accepts the same nonces, and a restart does not invalidate them;
// - DPOP_REQUIRE_NONCE (default on): a proof without a fresh nonce is answered `use_dpop_nonce` with a
//   `DPoP-Nonce` header, which limits a stolen proof's life to the nonce's (at most five minutes);
// - the algorithms proofs may use, listed in discovery as dpop_signing_alg_values_supported.
import type { SecretBox } from '../domain/secret-box.ts';

/** Asymmetric only (RFC 9449 §4.2); ES256 is what every DPoP client supports. */
export const DPOP_SIGNING_ALGS = ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const;

export function createDPoPFeature(box: SecretBox, requireNonce: boolean) {
  return {
    enabled: true,
    nonceSecret: box.derive('dpop nonces'),
    requireNonce: () => requireNonce,
    allowReplay: false,
  };
}
