// The engine answers unknown routes and unsupported methods with Koa's bare "Not Found" text. Make that a
// spec-shaped error like every other: OAuth JSON, or our HTML error page for browsers.
import type Provider from 'oidc-provider';
import type { EnginePages } from './engine-pages.ts';

export function answerUnknownRoutes(provider: Provider, pages: EnginePages): void {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status !== 404 || ctx.body !== undefined) return;
    const out = { error: 'invalid_request', error_description: 'unrecognized route or unsupported method' };
    ctx.status = 404;
    ctx.set('Cache-Control', 'no-store');
    if (ctx.accepts('json', 'html') === 'html') {
      await pages.renderError(ctx as never, out, new Error(out.error_description));
      ctx.status = 404;
    } else {
      ctx.body = out;
    }
  });
}
