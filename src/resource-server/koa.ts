// Koa middleware: requireAccess(validator, { scopes, roles }) protects a route. On success the token's
// claims are at ctx.state.auth; otherwise the response is 401 (no or bad token), 400 (malformed header),
// 403 (insufficient_scope) or 503 (the token cannot be checked now), with RFC 6750 WWW-Authenticate.
// Koa is not imported: the context is described structurally, so this module runs without Koa installed.
import { checkAccess, type AccessRequirements } from './bearer.ts';
import type { TokenValidator } from './types.ts';
import { announceResourceMetadata } from './protected-resource-metadata.ts';

/** The part of a Koa context the middleware touches. */
export interface KoaLikeContext {
  get(field: string): string;
  set(field: string, value: string): void;
  status: number;
  body: unknown;
  state: Record<string, unknown>;
  /** For DPoP proofs (RFC 9449 §4.3): the method and the absolute URL called. */
  method: string;
  href: string;
}

export function requireAccess(validator: TokenValidator, requirements: AccessRequirements = {}) {
  return async function requireAccessMiddleware(ctx: KoaLikeContext, next: () => Promise<unknown>): Promise<void> {
    const decision = announceResourceMetadata(
      await checkAccess(validator, ctx.get('authorization') || undefined, requirements, { method: ctx.method, url: ctx.href, proof: ctx.get('dpop') || undefined }),
      requirements,
    );
    if (!decision.ok) {
      for (const [name, value] of Object.entries(decision.headers)) ctx.set(name, value);
      ctx.set('Cache-Control', 'no-store');
      ctx.status = decision.status;
      ctx.body = decision.body;
      return;
    }
    ctx.state.auth = decision.claims;
    await next();
  };
}
