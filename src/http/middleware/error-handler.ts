// One error handler for the host's own routes. What an error means (status, OAuth code, whether its words may
// be shown) is toProblem's (problem.ts); this writes it as OAuth-shaped JSON or a readable HTML page, by
// Accept. A fault the caller cannot act on is logged here and answered with a generic body, never a stack.
import type { Context, Middleware } from 'koa';
import type { Logger } from '../../logger.ts';
import { toProblem, type Problem } from '../../problem.ts';
import { renderPage } from '../render.ts';
import { strings } from '../strings.ts';

export function respondWithError(ctx: Context, problem: Problem): void {
  // The pages' own words for a fault: their strings live in strings.ts.
  const description = problem.expose ? problem.description : strings.error.generic;
  ctx.status = problem.status;
  ctx.set('Cache-Control', 'no-store');
  if (problem.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(problem.retryAfterSeconds));
  if (ctx.accepts('json', 'html') === 'html') {
    ctx.type = 'html';
    ctx.body = renderPage('error', { description, code: problem.error });
  } else {
    ctx.body = { error: problem.error, error_description: description };
  }
}

export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const problem = toProblem(error);
      if (!problem.expose) logger.error({ err: error, path: ctx.path, method: ctx.method }, 'unhandled error');
      else if (problem.status === 503) logger.warn({ path: ctx.path, err: { message: (error as Error).message } }, 'database unavailable');
      respondWithError(ctx, problem);
    }
  };
}
