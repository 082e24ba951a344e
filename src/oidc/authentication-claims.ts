// How the person signed in, on the access tokens issued from that sign-in: `amr` (RFC 8176) and `acr`
// (OpenID Connect Core §2), so introspection answers and JWT access tokens (RFC 9068 §2.2.1) say what the ID
// token says and a resource server can demand a second factor. They are read from the record the token
// comes from — the authorization code, the refresh token or the device code — which the engine copied
// from the session at sign-in.
import type { KoaContextWithOIDC } from 'oidc-provider';

type Source = { amr?: unknown; acr?: unknown } | undefined;

export function withAuthenticationClaims<T extends (ctx: KoaContextWithOIDC, token: never) => Promise<Record<string, unknown> | undefined>>(extra: T): T {
  return (async (ctx: KoaContextWithOIDC, token: never) => {
    const claims = await extra(ctx, token);
    const e = ctx.oidc?.entities as Record<string, Source> | undefined;
    const source = e?.AuthorizationCode ?? e?.RefreshToken ?? e?.DeviceCode;
    // A client's own token (client_credentials) has no person behind it; an exchanged token has its own story (act).
    if ((token as { kind?: string }).kind === 'ClientCredentials' || !source) return claims;
    const amr = Array.isArray(source.amr) && source.amr.every((v) => typeof v === 'string') ? source.amr : undefined;
    const acr = typeof source.acr === 'string' ? source.acr : undefined;
    if (!amr && !acr) return claims;
    return { ...claims, ...(amr ? { amr } : {}), ...(acr ? { acr } : {}) };
  }) as T;
}
