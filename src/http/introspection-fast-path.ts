// POST /token/introspection of an access token of ours, answered by the host (oidc/introspection-fast-path.ts)
// when the case is plain; otherwise the request goes on to the engine unchanged. Runs after the host's own
// middleware (request log, security headers, body limit, hostile input), exactly where the engine would.
import type { Middleware } from 'koa';
import type { Metrics } from '../metrics.ts';
import type { IntrospectionFastPath } from '../oidc/introspection-fast-path.ts';
import { INTROSPECTION_PATH } from '../oidc/provider.ts';
import { setEngineLogFields } from '../oidc/observe.ts';
import { rawBody } from './middleware/engine-request.ts';

export function introspectionFastPath(introspect: IntrospectionFastPath, metrics: Metrics | undefined): Middleware {
  return async (ctx, next) => {
    const body = ctx.method === 'POST' && ctx.path === INTROSPECTION_PATH && ctx.is('application/x-www-form-urlencoded') ? rawBody(ctx) : undefined;
    const answer = body && (await introspect({ form: new URLSearchParams(body.toString('utf8')), headers: ctx.headers }));
    if (!answer) return next();
    // As the engine answers (its no_cache.js): an introspection response is never cached.
    ctx.set('Cache-Control', 'no-store');
    ctx.body = answer.body;
    setEngineLogFields(ctx.req, { route: 'introspection', client_id: answer.clientId, ...(answer.sub ? { sub: answer.sub } : {}), via: 'fast-path' });
    metrics?.introspections.inc({ active: 'true' });
  };
}
