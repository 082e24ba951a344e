// Signing in through an upstream identity provider, inside an engine interaction:
//   POST /interaction/:uid/upstream/:id            (login page button, CSRF) → 303 to the upstream
//   GET  /upstream/:id/callback                    the fixed redirect URI registered at the upstream; it only
//                                                  bounces to the interaction's own path, where the engine's
//                                                  interaction cookie (path-scoped) is sent
//   GET  /interaction/:uid/upstream/:id/callback   code exchange → linked account, new account, or link page
//   POST /interaction/:uid/link                    link an existing account by its password
// What must survive the round trip (state, nonce, PKCE verifier) travels in a signed, short-lived cookie.
// Every failure ends on a readable page with a way back to the sign-in page, never a 500 or a loop.
import Router from '@koa/router';
import { z } from 'zod';
import type { Context } from 'koa';
import type { SignInService } from '../services/sign-in.ts';
import type { LiveProvider } from '../oidc/live-provider.ts';
import { INTERACTION_PATH } from '../oidc/provider.ts';
import type { UpstreamRow } from '../domain/upstreams.ts';
import { describeUpstreamFailure, type UpstreamClient } from '../upstream/client.ts';
import { readPageForm, text as formText, trimmed } from './forms.ts';
import { csrfToken } from './middleware/csrf.ts';
import { renderPage } from './render.ts';
import { strings } from './strings.ts';
import { BadRequest } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { SecondFactorStep } from './second-factor-step.ts';

export interface UpstreamRouterDeps {
  live: LiveProvider;
  /** Every sign-in use case, brokered ones included (services/sign-in.ts). */
  signIn: SignInService;
  client: UpstreamClient;
  logger: Logger;
  bodyLimitBytes: number;
  /** The second-factor step after the upstream signed the person in (http/second-factor-step.ts). */
  secondFactor?: SecondFactorStep;
}

const FLOW_COOKIE = 'tessera.upstream';
const LINK_COOKIE = 'tessera.upstream.link';
const FLOW_MAX_AGE_MS = 10 * 60_000;

// The flow cookies are signed, so only this server wrote them; they are still parsed against their shape
// (a cookie from an older version, or one signed with a key since rotated in by hand, must not crash a page).
const text = (max: number) => z.string().min(1).max(max);
const flowCookie = z.object({
  uid: text(100),
  upstream: text(63),
  state: text(512),
  nonce: text(512).optional(),
  codeVerifier: text(512),
}).transform((f) => ({ ...f, nonce: f.nonce }));
const pendingLinkCookie = z.object({
  upstream: text(63),
  subject: text(512),
  email: z.string().max(512).optional(),
  username: z.string().max(256).optional(),
}).transform((p) => ({ ...p, email: p.email, username: p.username }));
type Flow = z.output<typeof flowCookie>;
type PendingLink = z.output<typeof pendingLinkCookie>;

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
function decode<S extends z.ZodType>(schema: S, value: string | undefined): z.output<S> | undefined {
  if (!value) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The link-by-password page: an existing account's name and password. */
const LINK_FORM = { username: trimmed, password: formText };

export function createUpstreamRouter(deps: UpstreamRouterDeps): Router {
  const { signIn: service } = deps;
  const provider = () => deps.live.current;
  const origin = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') });
  const router = new Router();

  const cookieOptions = (ctx: Context, path: string) => ({ httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, signed: true, path, overwrite: true, maxAge: FLOW_MAX_AGE_MS });
  const clearCookie = (ctx: Context, name: string, path: string) => ctx.cookies.set(name, null, { path, signed: true, overwrite: true });

  function failed(ctx: Context, status: number, description: string, uid?: string) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderPage('upstream-error', { description, backUrl: uid ? `${INTERACTION_PATH}/${uid}` : undefined });
  }

  /** The interaction behind the URL, which must be at its login prompt. */
  async function loginInteraction(ctx: Context) {
    const details = await provider().interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new BadRequest('this sign-in page is out of date; start again from the application');
    if (details.prompt.name !== 'login') throw new BadRequest('this sign-in step is already complete');
    ctx.set('Cache-Control', 'no-store');
    return details;
  }

  async function signIn(ctx: Context, accountId: string, upstream: UpstreamRow, clientId: string, created: boolean) {
    ctx.state.accountId = accountId;
    await service.signedInUpstream(origin(ctx), accountId, clientId, upstream, created);
    // amr "fed": authenticated by a federated identity provider (RFC 8176 §2).
    if (deps.secondFactor) {
      // Finished here, or kept pending until the person's second factor (a factor is asked after any first one).
      const details = await provider().interactionDetails(ctx.req, ctx.res);
      return deps.secondFactor.afterFirstFactor(ctx, details, { accountId, amr: ['fed'] });
    }
    const login = { accountId, amr: ['fed'] };
    ctx.status = 303;
    ctx.redirect(await provider().interactionResult(ctx.req, ctx.res, { login }, { mergeWithLastSubmission: false }));
  }

  router.post(`${INTERACTION_PATH}/:uid/upstream/:id`, async (ctx) => {
    await readPageForm(ctx, deps.bodyLimitBytes, {});
    const details = await loginInteraction(ctx);
    const upstream = await service.upstream(ctx.params.id!);
    if (!upstream) return failed(ctx, 404, strings.upstream.unknown, details.uid);
    let started;
    try {
      started = await deps.client.start(upstream);
    } catch (error) {
      // Unreachable, or it answered with metadata that does not check out (e.g. another issuer's): both 502.
      const reason = describeUpstreamFailure(error) === 'unreachable' ? 'unreachable' : 'invalid';
      deps.logger.warn({ upstream: upstream.id, reason, err: { message: (error as Error).message } }, 'upstream discovery failed');
      await service.upstreamFailed(origin(ctx), String(details.params.client_id), upstream, reason, { count: false });
      return failed(ctx, 502, strings.upstream[reason](upstream.displayName), details.uid);
    }
    const flow: Flow = { uid: details.uid, upstream: upstream.id, ...started.checks };
    ctx.cookies.set(FLOW_COOKIE, encode(flow), cookieOptions(ctx, '/'));
    ctx.status = 303;
    ctx.redirect(started.url.href);
  });

  router.get('/upstream/:id/callback', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const flow = decode(flowCookie, ctx.cookies.get(FLOW_COOKIE, { signed: true }));
    if (!flow || flow.upstream !== ctx.params.id || !/^[A-Za-z0-9_-]{1,100}$/.test(flow.uid)) return failed(ctx, 400, strings.upstream.expired);
    ctx.status = 303;
    ctx.redirect(`${INTERACTION_PATH}/${flow.uid}/upstream/${flow.upstream}/callback?${ctx.querystring}`);
  });

  router.get(`${INTERACTION_PATH}/:uid/upstream/:id/callback`, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const uid = ctx.params.uid!;
    const flow = decode(flowCookie, ctx.cookies.get(FLOW_COOKIE, { signed: true }));
    // One use: whatever happens next, this round trip is over.
    clearCookie(ctx, FLOW_COOKIE, '/');
    if (!flow || flow.uid !== uid || flow.upstream !== ctx.params.id) return failed(ctx, 400, strings.upstream.expired, flow?.uid === uid ? uid : undefined);
    const upstream = await service.upstream(flow.upstream);
    if (!upstream) return failed(ctx, 404, strings.upstream.unknown, uid);
    const details = await loginInteraction(ctx);
    const clientId = String(details.params.client_id);

    let profile;
    try {
      profile = await deps.client.finish(upstream, new URLSearchParams(ctx.querystring), flow);
    } catch (error) {
      const reason = describeUpstreamFailure(error);
      deps.logger.warn({ upstream: upstream.id, reason, err: { message: (error as Error).message } }, 'upstream sign-in failed');
      await service.upstreamFailed(origin(ctx), clientId, upstream, reason);
      const status = reason === 'unreachable' ? 502 : reason === 'denied' ? 403 : 400;
      return failed(ctx, status, strings.upstream[reason](upstream.displayName), uid);
    }

    const result = await service.resolveUpstream(upstream, profile);
    if (result.kind === 'disabled') {
      await service.upstreamFailed(origin(ctx), clientId, upstream, 'disabled');
      return failed(ctx, 403, strings.upstream.disabled, uid);
    }
    if (result.kind === 'signed-in') return signIn(ctx, result.account.id, upstream, clientId, result.created);
    const pending: PendingLink = { upstream: upstream.id, subject: profile.subject, email: profile.email, username: result.suggestedUsername };
    ctx.cookies.set(LINK_COOKIE, encode(pending), cookieOptions(ctx, `${INTERACTION_PATH}/${uid}`));
    renderLink(ctx, uid, upstream, pending.username ?? '');
  });

  function renderLink(ctx: Context, uid: string, upstream: UpstreamRow, username: string, error?: string) {
    ctx.type = 'html';
    ctx.body = renderPage('upstream-link', {
      provider: upstream.displayName,
      action: `${INTERACTION_PATH}/${uid}/link`,
      backUrl: `${INTERACTION_PATH}/${uid}`,
      csrf: csrfToken(ctx),
      username,
      error,
    });
  }

  router.post(`${INTERACTION_PATH}/:uid/link`, async (ctx) => {
    const form = await readPageForm(ctx, deps.bodyLimitBytes, LINK_FORM);
    const uid = ctx.params.uid!;
    const pending = decode(pendingLinkCookie, ctx.cookies.get(LINK_COOKIE, { signed: true }));
    if (!pending) return failed(ctx, 400, strings.upstream.expired, uid);
    const upstream = await service.upstream(pending.upstream);
    if (!upstream) return failed(ctx, 404, strings.upstream.unknown, uid);
    const details = await loginInteraction(ctx);
    const { username } = form;

    // The same brute-force protection as the sign-in form: this is a password check too.
    const tooMany = (seconds: number) => {
      ctx.status = 429;
      ctx.set('Retry-After', String(seconds));
      return renderLink(ctx, uid, upstream, username, strings.login.tooMany(Math.ceil(seconds / 60)));
    };
    const clientId = String(details.params.client_id);
    const linked = await service.linkWithPassword({ ...origin(ctx), username, clientId }, upstream, pending, form.password);
    if (!linked.ok) {
      if (linked.lockedForSeconds > 0) return tooMany(linked.lockedForSeconds);
      if (linked.passwordRight) return failed(ctx, 409, strings.upstream.alreadyLinked, uid);
      ctx.status = 401;
      return renderLink(ctx, uid, upstream, username, strings.login.invalid);
    }
    clearCookie(ctx, LINK_COOKIE, `${INTERACTION_PATH}/${uid}`);
    return signIn(ctx, linked.value.id, upstream, clientId, false);
  });

  return router;
}
