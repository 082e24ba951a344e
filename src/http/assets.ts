// The one stylesheet, and the passkey script (the CSP allows scripts from 'self' only, never inline). Read
// once at start; served with a long cache lifetime.
import { readFileSync } from 'node:fs';
import Router from '@koa/router';

const STYLE = readFileSync(new URL('../../views/assets/style.css', import.meta.url));
const PASSKEYS = readFileSync(new URL('../../views/assets/passkeys.js', import.meta.url));

export function createAssetRouter(): Router {
  const router = new Router();
  router.get('/assets/style.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.body = STYLE;
  });
  router.get('/assets/passkeys.js', (ctx) => {
    ctx.type = 'text/javascript';
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.body = PASSKEYS;
  });
  return router;
}
