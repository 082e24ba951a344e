// CSRF protection for our form posts: a signed double-submit cookie (OWASP CSRF Cheat Sheet). The token is
// random per browser, set HttpOnly + SameSite=Lax, and every POST must echo it in the `csrf` field.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { CsrfRejected } from '../../errors.ts';

const COOKIE = 'tessera.csrf';

export function csrfToken(ctx: Context): string {
  const existing = ctx.cookies.get(COOKIE, { signed: true });
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomBytes(32).toString('base64url');
  // Secure whenever the request arrived over TLS (directly or via a trusted proxy).
  ctx.cookies.set(COOKIE, token, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: true, path: '/', overwrite: true });
  return token;
}

export function assertCsrf(ctx: Context, form: URLSearchParams): void {
  const expected = ctx.cookies.get(COOKIE, { signed: true });
  const given = form.get('csrf');
  if (!expected || !given || expected.length !== given.length) throw new CsrfRejected();
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(given))) throw new CsrfRejected();
}
