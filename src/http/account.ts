// The account page: a signed-in person sees the apps they have granted access to and removes any of them
// (which revokes that grant and every token issued from it). Sign-in goes through the built-in first-party
// client `tessera-account`, so the page uses the same single sign-on session as every other app.
import { randomBytes, createHash } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { Config } from '../config.ts';
import type { ServiceContext } from '../services/context.ts';
import { appsOf, linkedIdentities, removeApp, unlinkOwnIdentity } from '../services/account-page.ts';
import { listPasskeys } from '../services/passkeys.ts';
import { ACCOUNT_CLIENT_ID, accountCallbackPath } from '../domain/clients.ts';
import { BadRequest } from '../errors.ts';
import { z } from 'zod';
import { readPageForm } from './forms.ts';
import { csrfToken } from './middleware/csrf.ts';
import { renderPage } from './render.ts';
import { strings } from './strings.ts';
import { accountOfSession, twoStepSummary } from './account-second-factors.ts';

export interface AccountDeps {
  live: LiveProvider;
  services: ServiceContext;
  config: Config;
}

const chosen = (what: string, max: number) => z.string({ error: `no ${what} was chosen` }).min(1, `no ${what} was chosen`).max(max, `no ${what} was chosen`);
const REMOVE_APP_FORM = { client_id: chosen('app', 256) };
const UNLINK_FORM = { upstream: chosen('linked account', 64), subject: chosen('linked account', 512) };

export function createAccountRouter(deps: AccountDeps): Router {
  const { services, config } = deps;
  const router = new Router({ prefix: '/account' });

  // An account that must use a second factor is shown only to a session that used one (account-second-factors.ts).
  const signedInAccount = (ctx: Context) => accountOfSession(deps.live, services, ctx);

  router.get('/', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    const account = await signedInAccount(ctx);
    if (!account) {
      ctx.body = renderPage('account-sign-in', { action: '/account/sign-in' });
      return;
    }
    const apps = await appsOf(services, account.id);
    ctx.body = renderPage('account', {
      account,
      identities: (await linkedIdentities(services, account.id)).map((i) => ({ ...i, since: i.linkedAt.toISOString().slice(0, 10) })),
      unlinkAction: '/account/identities/unlink',
      twoStep: await twoStepSummary(services, account.id),
      // http/email-verification.ts: only when email can be sent.
      verificationAction: services.mailer?.enabled ? '/account/email/verification' : undefined,
      apps: apps.map((a) => ({
        ...a,
        // The same plain words as the consent page.
        scopes: [...a.scopes].map((s) => strings.consent.scopes[s] ?? s).join(' · '),
        since: a.since.toISOString().slice(0, 10),
      })),
      csrf: csrfToken(ctx),
      revokeAction: '/account/apps/revoke',
      // Passkeys (http/account-passkeys.ts).
      passkeys: (await listPasskeys(services, account.id)).map((p) => ({
        ...p,
        since: p.createdAt.toISOString().slice(0, 10),
        lastUsed: p.lastUsedAt?.toISOString().slice(0, 10),
      })),
      passkeyActions: { options: '/account/passkeys/options', add: '/account/passkeys', rename: '/account/passkeys/rename', remove: '/account/passkeys/remove' },
      signOutUrl: `${config.issuer}/session/end`,
    });
  });

  // Starts a code flow for the account client; the person lands back on /account once signed in.
  router.get('/sign-in', async (ctx) => {
    const challenge = createHash('sha256').update(randomBytes(32)).digest('base64url');
    const url = new URL(`${config.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: `${config.issuer}${accountCallbackPath}`,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.toString());
  });

  // The code is not needed: the engine's session cookie, now set, is what the account page reads.
  router.get('/callback', (ctx) => {
    ctx.status = 303;
    ctx.redirect('/account');
  });

  /** A form post from the signed-in person (CSRF-checked), with its fields. */
  async function signedInForm<S extends z.ZodRawShape>(ctx: Context, shape: S) {
    const form = await readPageForm(ctx, config.bodyLimitBytes, shape);
    const account = await signedInAccount(ctx);
    if (!account) throw new BadRequest('you are signed out; sign in again');
    return { form, account };
  }

  router.post('/apps/revoke', async (ctx) => {
    const { form, account } = await signedInForm(ctx, REMOVE_APP_FORM);
    await removeApp(services, account.id, form.client_id, { ip: ctx.ip, userAgent: ctx.get('user-agent') });
    ctx.status = 303;
    ctx.redirect('/account');
  });

  router.post('/identities/unlink', async (ctx) => {
    const { form, account } = await signedInForm(ctx, UNLINK_FORM);
    // Refused (409, readable page) when it is the person's last way to sign in.
    await unlinkOwnIdentity(services, account.id, form.upstream, form.subject);
    ctx.status = 303;
    ctx.redirect('/account');
  });

  return router;
}
