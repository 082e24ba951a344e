// "Forgot password?": ask for a reset link (from the sign-in page of an interaction, or standalone at
// /password/forgot), and the page the emailed link opens (/password/reset?token=…), which sets the new
// password. Every page keeps the pages' rules: CSRF token on every form, 303 after a successful POST,
// readable errors, no-store. The token travels in the query string (never logged: the request log records
// route patterns) and then in the form; the pages send no Referer (layout.eta).
//
// The answer to "send me a link" is the same for every name typed (services/email-links.ts); only the
// throttle answers differently (429), and it counts names whether or not they exist.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { EmailLinkService } from '../services/email-links.ts';
import type { RequestOrigin } from '../services/sign-in.ts';
import { PASSWORD_RESET_TTL_SECONDS } from '../domain/email-links.ts';
import { AppError, BadRequest, NotFound } from '../errors.ts';
import { INTERACTION_PATH } from '../oidc/provider.ts';
import { readPageForm, text, trimmed } from './forms.ts';
import { csrfToken } from './middleware/csrf.ts';
import { renderPage } from './render.ts';
import { emailStrings as e } from './email-strings.ts';

export interface PasswordResetDeps {
  live: LiveProvider;
  links: EmailLinkService;
  bodyLimitBytes: number;
}

const FORGOT_FORM = { identifier: trimmed };
const RESET_FORM = { token: trimmed, password: text };
/** Interaction ids are the engine's (nanoid, 21 characters by default); nothing else is put in a link. */
const INTERACTION_UID = /^[A-Za-z0-9_-]{10,64}$/;

const queryText = (ctx: Context, name: string) => (typeof ctx.query[name] === 'string' ? (ctx.query[name] as string) : '');

export function createPasswordResetRouter(deps: PasswordResetDeps): Router {
  const { links } = deps;
  const provider = () => deps.live.current;
  const router = new Router();
  const origin = (ctx: Context): RequestOrigin => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') });

  function requireEnabled() {
    if (!links.enabled) throw new NotFound('password reset by email is not available on this server');
  }

  /** The interaction behind /interaction/:uid/forgot, while it is still waiting for a sign-in. */
  async function signInOf(ctx: Context) {
    const details = await provider().interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new BadRequest('this sign-in page is out of date; start again from the application');
    if (details.prompt.name !== 'login') throw new BadRequest('you are already signed in');
    return details.uid;
  }

  function renderForgot(ctx: Context, page: { action: string; back?: string | undefined; sent?: boolean; error?: string; identifier?: string }) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = renderPage('forgot-password', { ...page, e, csrf: csrfToken(ctx), minutes: PASSWORD_RESET_TTL_SECONDS / 60 });
  }

  async function askForLink(ctx: Context, interactionUid: string | undefined, page: { action: string; back?: string | undefined }) {
    const { identifier } = await readPageForm(ctx, deps.bodyLimitBytes, FORGOT_FORM);
    if (interactionUid !== undefined) await signInOf(ctx);
    const outcome = await links.requestPasswordReset(origin(ctx), identifier, interactionUid);
    if (!outcome.ok) {
      ctx.status = 429;
      ctx.set('Retry-After', String(outcome.retryAfterSeconds));
      return renderForgot(ctx, { ...page, identifier, error: e.tooMany(Math.ceil(outcome.retryAfterSeconds / 60)) });
    }
    ctx.status = 303;
    ctx.redirect(`${page.action}?sent=1`);
  }

  router.get('/password/forgot', (ctx) => {
    requireEnabled();
    renderForgot(ctx, { action: '/password/forgot', sent: ctx.query.sent === '1' });
  });
  router.post('/password/forgot', async (ctx) => {
    requireEnabled();
    await askForLink(ctx, undefined, { action: '/password/forgot' });
  });

  router.get(`${INTERACTION_PATH}/:uid/forgot`, async (ctx) => {
    requireEnabled();
    const uid = await signInOf(ctx);
    renderForgot(ctx, { action: `${INTERACTION_PATH}/${uid}/forgot`, back: `${INTERACTION_PATH}/${uid}`, sent: ctx.query.sent === '1' });
  });
  router.post(`${INTERACTION_PATH}/:uid/forgot`, async (ctx) => {
    requireEnabled();
    const uid = String(ctx.params.uid);
    await askForLink(ctx, uid, { action: `${INTERACTION_PATH}/${uid}/forgot`, back: `${INTERACTION_PATH}/${uid}` });
  });

  function renderReset(ctx: Context, data: Record<string, unknown>) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = renderPage('reset-password', { ...data, e });
  }

  router.get('/password/reset', async (ctx) => {
    requireEnabled();
    const token = queryText(ctx, 'token');
    const found = token ? await links.peekReset(token) : undefined;
    if (!found) {
      ctx.status = 400;
      return renderReset(ctx, { state: 'invalid' });
    }
    renderReset(ctx, { state: 'form', token, username: found.username, action: '/password/reset', csrf: csrfToken(ctx) });
  });

  router.post('/password/reset', async (ctx) => {
    requireEnabled();
    const { token, password } = await readPageForm(ctx, deps.bodyLimitBytes, RESET_FORM);
    try {
      const result = await links.resetPassword(origin(ctx), token, password);
      if (!result.ok) {
        ctx.status = 400;
        return renderReset(ctx, { state: 'invalid' });
      }
      ctx.status = 303;
      ctx.redirect(result.interactionUid ? `/password/reset/done?interaction=${encodeURIComponent(result.interactionUid)}` : '/password/reset/done');
    } catch (error) {
      // A password the rules refuse: the form again, with the link still unused.
      if (!(error instanceof AppError) || !error.expose) throw error;
      const found = await links.peekReset(token);
      ctx.status = found ? 422 : 400;
      renderReset(ctx, found ? { state: 'form', token, username: found.username, action: '/password/reset', csrf: csrfToken(ctx), error: error.description } : { state: 'invalid' });
    }
  });

  router.get('/password/reset/done', async (ctx) => {
    const uid = queryText(ctx, 'interaction');
    // Back to the sign-in it was asked from, if that is still waiting (in this browser or not, the engine decides).
    const waiting = INTERACTION_UID.test(uid) && (await provider().Interaction.find(uid)) !== undefined;
    renderReset(ctx, { state: 'done', continueTo: waiting ? `${INTERACTION_PATH}/${uid}` : undefined });
  });

  return router;
}
