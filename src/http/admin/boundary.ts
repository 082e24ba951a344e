// What wraps every admin API request: `Cache-Control: no-store`, one JSON error shape
// `{error, error_description, details}` whatever the Accept header, and an audit record of every call that
// may change something (type admin.request: who, method, route, status), whether it succeeded or not.
import type { Context, Middleware } from 'koa';
import type { Logger } from '../../logger.ts';
import type { ServiceContext } from '../../services/context.ts';
import { auditAdminRequest } from '../../services/admin-requests.ts';
import { isRepresentableText } from '../../representable.ts';
import { toProblem } from '../../problem.ts';
import type { AdminRoute, Caller } from './route.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface BoundaryDeps {
  services: ServiceContext;
  logger: Logger;
  basePath: string;
}

/** `route` is undefined for requests no route matched. */
export function adminBoundary(deps: BoundaryDeps, route: AdminRoute | undefined): Middleware {
  return async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (error) {
      // The status and wording are toProblem's (problem.ts); this only writes them in the admin API's shape.
      const problem = toProblem(error);
      if (!problem.expose) deps.logger.error({ err: error, path: ctx.path, method: ctx.method }, 'admin API error');
      else if (problem.status === 503) deps.logger.warn({ path: ctx.path, err: { message: (error as Error).message } }, 'database unavailable');
      ctx.status = problem.status;
      if (problem.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(problem.retryAfterSeconds));
      ctx.body = { error: problem.error, error_description: problem.description, details: problem.details ?? [] };
    } finally {
      if (!SAFE_METHODS.has(ctx.method)) await audit(deps, ctx, route);
    }
  };
}

/** Path parameters as the audit record can hold them: a refused NUL or lone surrogate is kept JSON-escaped (as `\u0000`). */
function storableParams(params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, isRepresentableText(v) ? v : JSON.stringify(v).slice(1, -1)]));
}

async function audit(deps: BoundaryDeps, ctx: Context, route: AdminRoute | undefined): Promise<void> {
  const caller = ctx.state.adminCaller as Caller | undefined;
  try {
    await auditAdminRequest(deps.services, {
      type: 'admin.request',
      clientId: caller?.clientId ?? null,
      ip: ctx.ip,
      userAgent: ctx.get('user-agent'),
      details: {
        method: ctx.method,
        route: route ? `${deps.basePath}${route.path}` : null,
        ...(route && ctx.params && Object.keys(ctx.params).length ? { params: storableParams(ctx.params) } : {}),
        status: ctx.status,
      },
    });
  } catch (error) {
    deps.logger.error({ err: { message: (error as Error).message } }, 'admin audit write failed');
  }
}
