// One JSON line per request: id, method, route (a pattern: paths carry interaction ids, which are also cookie
// values, so a raw path is logged only when no route matched; never the query string, which can carry codes
// and tokens), status, latency, and — where known — the client and the account. The same observation feeds
// the HTTP metrics, labelled by route pattern (never a raw path, which would be unbounded).
import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { engineLogFields } from '../../oidc/observe.ts';

function routeOf(ctx: Context): string {
  const matched = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === 'string' ? matched : 'unmatched';
}

export function requestLog(logger: Logger, metrics?: Metrics): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    const reqId = randomUUID();
    ctx.state.reqId = reqId;
    ctx.set('X-Request-Id', reqId);
    try {
      await next();
    } finally {
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      const engine = engineLogFields(ctx.req);
      const route = engine ? `engine:${engine.route}` : routeOf(ctx);
      const seconds = (performance.now() - started) / 1000;
      const known = { client_id: engine?.client_id ?? (ctx.state.clientId as string | undefined), sub: engine?.sub ?? (ctx.state.accountId as string | undefined) };
      logger.info(
        {
          reqId,
          method: ctx.method,
          route,
          ...(route === 'unmatched' ? { path: ctx.path } : {}),
          status,
          ms: Math.round(seconds * 10000) / 10,
          ...(known.client_id ? { client_id: known.client_id } : {}),
          ...(known.sub ? { sub: known.sub } : {}),
          ...(engine?.via ? { via: engine.via } : {}),
        },
        'request',
      );
      metrics?.httpRequests.observe({ method: ctx.method, route, status: String(status) }, seconds);
    }
  };
}
