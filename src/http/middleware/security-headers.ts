// Headers for every response, ours and the engine's. The engine appends the hash of its one inline script
// (form_post response mode) to script-src itself, so the policy stays free of 'unsafe-inline'.
import type { Middleware } from 'koa';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // The passkey script (views/assets/passkeys.js) asks this server, and only this server, for WebAuthn options.
  "connect-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(options: { https: boolean }): Middleware {
  return async (ctx, next) => {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (options.https) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}
