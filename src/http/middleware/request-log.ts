// One JSON line per request: id, method, path (never the query string: it can carry codes and tokens),
// status and latency.
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../../logger.ts';

export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    const reqId = randomUUID();
    ctx.state.reqId = reqId;
    ctx.set('X-Request-Id', reqId);
    try {
      await next();
    } finally {
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      logger.info(
        { reqId, method: ctx.method, path: ctx.path, status, ms: Math.round((performance.now() - started) * 10) / 10 },
        'request',
      );
    }
  };
}
