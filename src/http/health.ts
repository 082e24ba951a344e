// Probes for load balancers: /healthz says the process is alive; /readyz that the database answers, its
// schema is current and the process is not shutting down (so the balancer stops sending it new requests).
import Router from '@koa/router';
import type { Db } from '../store/db.ts';
import { pendingMigrations, ping } from '../store/db.ts';

export function createHealthRouter(db: Db, shutdown: AbortSignal): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (shutdown.aborted) {
      ctx.status = 503;
      ctx.body = { status: 'not_ready', reason: 'shutting down' };
      return;
    }
    try {
      await ping(db);
      const pending = await pendingMigrations(db);
      ctx.status = pending.length === 0 ? 200 : 503;
      ctx.body = pending.length === 0 ? { status: 'ready' } : { status: 'not_ready', reason: 'migrations pending', pending };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'not_ready', reason: 'database unreachable' };
    }
  });
  return router;
}
