// One error handler for the host's own routes: AppError and engine errors become OAuth-shaped JSON or a
// readable HTML page (by Accept); anything else is a logged 500 with a generic body and no stack trace.
import type { Context, Middleware } from 'koa';
import { AppError, TemporarilyUnavailable } from '../../errors.ts';
import { isDatabaseUnavailable } from '../../store/unavailable.ts';
import { isUnrepresentableInput } from '../../store/representable.ts';
import type { Logger } from '../../logger.ts';
import { renderPage } from '../render.ts';
import { strings } from '../strings.ts';

interface Shaped {
  status: number;
  code: string;
  description: string;
}

function shape(error: unknown): Shaped | undefined {
  if (isDatabaseUnavailable(error)) error = new TemporarilyUnavailable();
  if (error instanceof AppError) {
    return { status: error.status, code: error.code, description: error.expose ? error.description : strings.error.generic };
  }
  // Safety net behind middleware/hostile-input.ts: a value PostgreSQL cannot represent is a bad request.
  if (isUnrepresentableInput(error)) return { status: 400, code: 'invalid_request', description: strings.error.unrepresentable };
  // oidc-provider errors (e.g. SessionNotFound from interactionDetails) carry status, error and expose.
  const e = error as { status?: unknown; error?: unknown; error_description?: unknown; expose?: unknown };
  if (typeof e?.status === 'number' && e.status < 500 && typeof e.error === 'string' && e.expose === true) {
    return { status: e.status, code: e.error, description: typeof e.error_description === 'string' ? e.error_description : e.error };
  }
  // Koa's own http-errors (malformed cookies, bad URL encoding).
  const h = error as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof h?.status === 'number' && h.status >= 400 && h.status < 500 && h.expose === true) {
    return { status: h.status, code: 'invalid_request', description: String(h.message) };
  }
  return undefined;
}

export function respondWithError(ctx: Context, shaped: Shaped): void {
  ctx.status = shaped.status;
  ctx.set('Cache-Control', 'no-store');
  if (shaped.status === 503) ctx.set('Retry-After', '5');
  if (ctx.accepts('json', 'html') === 'html') {
    ctx.type = 'html';
    ctx.body = renderPage('error', { description: shaped.description, code: shaped.code });
  } else {
    ctx.body = { error: shaped.code, error_description: shaped.description };
  }
}

export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const shaped = shape(error);
      if (shaped) {
        if (shaped.status === 503) logger.warn({ path: ctx.path, err: { message: (error as Error).message } }, 'database unavailable');
        respondWithError(ctx, shaped);
        return;
      }
      logger.error({ err: error, path: ctx.path, method: ctx.method }, 'unhandled error');
      respondWithError(ctx, { status: 500, code: 'server_error', description: strings.error.generic });
    }
  };
}
