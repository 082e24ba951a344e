// What wraps every admin API request: `Cache-Control: no-store`, one JSON error shape
// `{error, error_description, details}` whatever the Accept header, and an audit record of every call that
// may change something (type admin.request: who, method, route, status), whether it succeeded or not.
import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Db } from '../../store/db.ts';
import { recordAudit } from '../../domain/audit.ts';
import { isRepresentableText, isUnrepresentableInput } from '../../store/representable.ts';
import { InvalidInput, type Detail } from './request.ts';
import type { AdminRoute, Caller } from './route.ts';

export interface AdminError {
  status: number;
  code: string;
  description: string;
  details: Detail[];
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function shapeAdminError(error: unknown): AdminError | undefined {
  if (error instanceof AppError) {
    return {
      status: error.status,
      code: error.code,
      description: error.expose ? error.description : 'the request failed',
      details: error instanceof InvalidInput ? error.details : [],
    };
  }
  // A unique index refused a row that a check-then-insert let through (two requests racing).
  if ((error as { code?: unknown })?.code === '23505') return { status: 409, code: 'conflict', description: 'that already exists', details: [] };
  // Safety net behind the schemas: a value PostgreSQL cannot represent (NUL, out-of-range number or date).
  if (isUnrepresentableInput(error)) return { status: 400, code: 'invalid_request', description: 'the request holds a value that cannot be stored', details: [] };
  // Koa's own http-errors (e.g. a malformed query string).
  const h = error as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof h?.status === 'number' && h.status >= 400 && h.status < 500 && h.expose === true) {
    return { status: h.status, code: 'invalid_request', description: String(h.message), details: [] };
  }
  return undefined;
}

export interface BoundaryDeps {
  db: Db;
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
      let shaped = shapeAdminError(error);
      if (!shaped) {
        deps.logger.error({ err: error, path: ctx.path, method: ctx.method }, 'admin API error');
        shaped = { status: 500, code: 'server_error', description: 'the request failed; see the server log', details: [] };
      }
      ctx.status = shaped.status;
      ctx.body = { error: shaped.code, error_description: shaped.description, details: shaped.details };
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
    await recordAudit(deps.db, {
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
