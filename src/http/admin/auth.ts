// Bearer-token authentication of admin API calls (RFC 6750). A token must be a JWT access token of ours for
// the admin audience, obtained by client_credentials, whose jti is not revoked and whose client is still
// enabled (checked in the database on every call, so disabling the client stops it at once), and must carry
// a scope that allows the route.
import type { Context } from 'koa';
import type { ServiceContext } from '../../services/context.ts';
import { adminTokenState } from '../../services/admin-requests.ts';
import type { AccessTokenVerifier } from '../../domain/access-token-verifier.ts';
import { scopeAllows, type AdminScope } from '../../domain/admin-scopes.ts';
import { AppError } from '../../errors.ts';
import type { Caller } from './route.ts';
import type { DPoPGuard } from '../dpop-bound-tokens.ts';

export { ADMIN_SCOPES, ADMIN_AREAS, adminAudience, type AdminScope } from '../../domain/admin-scopes.ts';

export interface AdminAuthDeps {
  services: ServiceContext;
  verifier: AccessTokenVerifier;
  audience: string;
  /** RFC 9449: a DPoP-bound admin token needs its proof (http/dpop-bound-tokens.ts). */
  dpop: DPoPGuard;
}

const REALM = 'tessera-admin';

function challenge(ctx: Context, params: Record<string, string>): void {
  const attributes = Object.entries({ realm: REALM, ...params }).map(([k, v]) => `${k}="${v.replace(/["\\]/g, '')}"`);
  ctx.set('WWW-Authenticate', `Bearer ${attributes.join(', ')}`);
}

function invalidToken(ctx: Context, description: string): AppError {
  challenge(ctx, { error: 'invalid_token', error_description: description });
  return new AppError(401, 'invalid_token', description);
}

/** The caller, also left in `ctx.state.adminCaller` (for the audit record) once the token is known good. */
export async function authenticate(ctx: Context, deps: AdminAuthDeps, required: AdminScope): Promise<Caller> {
  const header = ctx.get('authorization');
  if (!header) {
    // RFC 6750 §3.1: no error code when the request carried no credentials at all.
    challenge(ctx, { scope: required });
    throw new AppError(401, 'invalid_token', 'a bearer access token for the admin API is required');
  }
  const presented = deps.dpop.read(header);
  if (!presented) throw invalidToken(ctx, 'the Authorization header must be "Bearer <access token>" (or "DPoP <access token>")');
  const claims = await deps.verifier.verify(presented.token, { audience: deps.audience });
  if (!claims) throw invalidToken(ctx, 'the access token is invalid, expired, or not for the admin API');
  const refusal = await deps.dpop.refusal(ctx, presented, claims);
  if (refusal) throw new AppError(401, refusal.error, refusal.description);
  // Admin tokens come from client_credentials; a token issued on a person's behalf (from a grant) is not one.
  if (claims.gid !== undefined) throw invalidToken(ctx, 'the admin API accepts client_credentials tokens only');
  const state = await adminTokenState(deps.services, { jti: claims.jti, clientId: claims.client_id, issuedAt: claims.iat! });
  if (state.revoked || !state.clientEnabled) throw invalidToken(ctx, 'the access token has been revoked');
  const scopes = String(claims.scope ?? '').split(' ').filter(Boolean);
  const caller: Caller = { clientId: claims.client_id, scopes };
  // Known from here on, so the audit record names the caller even when the scope falls short.
  ctx.state.adminCaller = caller;
  if (!scopeAllows(scopes, required)) {
    challenge(ctx, { error: 'insufficient_scope', scope: required });
    const alternatives = [required, ...(required.endsWith(':read') ? [required.replace(/:read$/, ':write')] : []), 'admin:*'];
    throw new AppError(403, 'insufficient_scope', `this call needs scope ${[...new Set(alternatives)].join(' or ')}`);
  }
  return caller;
}
