// DPoP-bound tokens (RFC 9449) at Tessera's own APIs — the admin API and the revocation feed. A client
// that must use DPoP (dpop_bound_access_tokens) gets bound tokens for them too, and such a token must be
// as useless without its key here as at any API. The rules and the code are the resource-server module's
// (src/resource-server/dpop.ts: pure, jose only): `Authorization: DPoP <token>` plus a proof for this request
// for a bound token, `Bearer` for an unbound one, and RFC 9449 §7.1 challenges.
import type { Context } from 'koa';
import { checkBinding, createDPoPVerifier, dpopChallenge, dpopSettings, dpopToken } from '../resource-server/dpop.ts';

export interface PresentedToken {
  scheme: 'bearer' | 'dpop';
  token: string;
}

// RFC 6750 §2.1 b64token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** One per router: it holds the replay cache of the proofs it accepted. */
export function createDPoPGuard(clockToleranceSeconds: number) {
  const verifier = createDPoPVerifier(dpopSettings(undefined, clockToleranceSeconds));
  return {
    /** The token of `Authorization: Bearer <token>` or `DPoP <token>`; undefined for anything else. */
    read(header: string): PresentedToken | undefined {
      const dpop = dpopToken(header);
      if (dpop) return { scheme: 'dpop', token: dpop };
      if (dpop === null) return undefined;
      const bearer = BEARER.exec(header)?.[1];
      return bearer ? { scheme: 'bearer', token: bearer } : undefined;
    },

    /**
     * Undefined when the token may be used the way it was presented; otherwise the OAuth error and its
     * description, with the DPoP challenge already set on the response.
     */
    async refusal(ctx: Context, presented: PresentedToken, claims: Record<string, unknown>): Promise<{ error: string; description: string } | undefined> {
      const tokenClaims = claims as Parameters<typeof checkBinding>[1]['claims'];
      const result = await checkBinding(verifier.verify, { ...presented, claims: tokenClaims }, { method: ctx.method, url: ctx.href, proof: ctx.headers.dpop });
      if (result.ok) return undefined;
      ctx.set('WWW-Authenticate', dpopChallenge(verifier.algorithms, { error: result.error, error_description: result.description }));
      return { error: result.error, description: result.description };
    },
  };
}

export type DPoPGuard = ReturnType<typeof createDPoPGuard>;
