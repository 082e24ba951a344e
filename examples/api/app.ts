// The example API as a Koa app: GET /invoices needs a valid access token with the scope invoices:read.
import Koa from 'koa';
import Router from '@koa/router';
import { requireAccess, type AccessTokenClaims, type TokenValidator } from '../../src/resource-server/index.ts';

export function createApiApp(validator: TokenValidator): Koa {
  const app = new Koa();
  const router = new Router();

  router.get('/invoices', requireAccess(validator, { scopes: ['invoices:read'] }), (ctx) => {
    const auth = ctx.state.auth as AccessTokenClaims;
    ctx.body = {
      // Who is asking: a person (sub, through their app client_id) or a service (client_credentials).
      caller: { sub: auth.sub, client_id: auth.client_id },
      invoices: [
        { id: 'INV-1001', amount: 120, currency: 'EUR' },
        { id: 'INV-1002', amount: 75.5, currency: 'EUR' },
      ],
    };
  });

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok', feed: validator.feedStatus() ?? null };
  });

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
