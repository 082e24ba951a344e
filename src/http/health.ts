// Probes for load balancers: /healthz says the process is alive; /readyz that the database answers, its
// schema is current and the process is not shutting down (so the balancer stops sending it new requests).
import Router from '@koa/router';
import type { ServiceContext } from '../services/context.ts';
import { readiness } from '../services/maintenance.ts';

export function createHealthRouter(services: ServiceContext, shutdown: AbortSignal): Router {
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
    const { ready, ...why } = await readiness(services);
    ctx.status = ready ? 200 : 503;
    ctx.body = ready ? { status: 'ready' } : { status: 'not_ready', ...why };
  });
  return router;
}
