// Email verification: the page the emailed link opens (/email/verify?token=…) asks for one click — a POST
// with the CSRF token — before the address is marked verified, so a mail scanner that follows links does not
// use it up; and "send the link again" from the account page (signed in, throttled per account).
import Router from '@koa/router';
import type { Context } from 'koa';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { EmailLinkService } from '../services/email-links.ts';
import { NotFound } from '../errors.ts';
import { readPageForm, trimmed } from './forms.ts';
import { csrfToken } from './middleware/csrf.ts';
import { renderPage } from './render.ts';
import { emailStrings as e } from './email-strings.ts';

export interface EmailVerificationDeps {
  live: LiveProvider;
  links: EmailLinkService;
  bodyLimitBytes: number;
}

const VERIFY_FORM = { token: trimmed };

export function createEmailVerificationRouter(deps: EmailVerificationDeps): Router {
  const { links } = deps;
  const router = new Router();

  function render(ctx: Context, data: Record<string, unknown>) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = renderPage('verify-email', { ...data, e });
  }

  router.get('/email/verify', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const found = token ? await links.peekVerification(token) : undefined;
    if (!found) {
      ctx.status = 400;
      return render(ctx, { state: 'invalid' });
    }
    render(ctx, { state: 'form', email: found.email, token, action: '/email/verify', csrf: csrfToken(ctx) });
  });

  router.post('/email/verify', async (ctx) => {
    const { token } = await readPageForm(ctx, deps.bodyLimitBytes, VERIFY_FORM);
    const result = await links.verifyEmail(token);
    if (!result.ok) {
      ctx.status = 400;
      return render(ctx, { state: 'invalid' });
    }
    ctx.status = 303;
    ctx.redirect('/email/verified');
  });

  router.get('/email/verified', (ctx) => render(ctx, { state: 'done' }));
  router.get('/email/verification-sent', (ctx) => render(ctx, { state: 'sent' }));

  router.post('/account/email/verification', async (ctx) => {
    await readPageForm(ctx, deps.bodyLimitBytes, {});
    if (!links.enabled) throw new NotFound('email is not available on this server');
    const session = await deps.live.current.Session.get(ctx);
    if (!session.accountId) {
      ctx.status = 303;
      return ctx.redirect('/account');
    }
    const outcome = await links.resendVerification(session.accountId);
    if (!outcome.ok) {
      ctx.status = 429;
      ctx.set('Retry-After', String(outcome.retryAfterSeconds));
      return render(ctx, { state: 'invalid', error: e.tooMany(Math.ceil(outcome.retryAfterSeconds / 60)) });
    }
    ctx.status = 303;
    ctx.redirect('/email/verification-sent');
  });

  return router;
}
