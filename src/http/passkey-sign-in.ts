// "Sign in with a passkey" on the sign-in page (views/login.eta + views/assets/passkeys.js):
//   POST /interaction/:uid/passkey/options  JSON {csrf} → WebAuthn request options (discoverable, UV required);
//        the challenge is kept server-side for this interaction (services/passkeys.ts)
//   POST /interaction/:uid/passkey          form {csrf, credential} → 303 to the engine (login with amr
//        hwk|swk, user, mfa), or a readable page (401, 429 with Retry-After while locked)
// The interaction is read through the engine (its cookie binds the uid to this browser).
import { ACR_MFA } from '../domain/second-factor-policy.ts';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { ServiceContext } from '../services/context.ts';
import { passkeySignInOptions, signInWithPasskey } from '../services/passkeys.ts';
import { BadRequest } from '../errors.ts';
import { INTERACTION_PATH } from '../oidc/provider.ts';
import { readPageForm } from './forms.ts';
import { readScriptRequest } from './script-requests.ts';
import { renderPage } from './render.ts';
import { strings } from './strings.ts';

export interface PasskeySignInDeps {
  live: LiveProvider;
  services: ServiceContext;
  bodyLimitBytes: number;
  /** The sign-in counter (metrics), as the password form counts. */
  onLogin?: (result: 'success' | 'failure' | 'locked') => void;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

const PASSKEY_FORM = { credential: z.string({ error: 'no passkey was given' }).min(1, 'no passkey was given').max(65_536, 'the passkey answer is too large') };

export function createPasskeySignInRouter(deps: PasskeySignInDeps): Router {
  const { services } = deps;
  const provider = () => deps.live.current;
  const router = new Router({ prefix: INTERACTION_PATH });

  async function loginDetails(ctx: Context): Promise<Details> {
    const details = await provider().interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new BadRequest('this sign-in page is out of date; start again from the application');
    ctx.set('Cache-Control', 'no-store');
    if (details.prompt.name !== 'login') throw new BadRequest('this sign-in step is already complete');
    return details;
  }

  router.post('/:uid/passkey/options', async (ctx) => {
    await readScriptRequest(ctx, deps.bodyLimitBytes);
    const details = await loginDetails(ctx);
    ctx.body = await passkeySignInOptions(services, details.uid);
  });

  router.post('/:uid/passkey', async (ctx) => {
    const form = await readPageForm(ctx, deps.bodyLimitBytes, PASSKEY_FORM);
    const details = await loginDetails(ctx);
    const clientId = String(details.params.client_id);
    const result = await signInWithPasskey(services, details.uid, form.credential, { ip: ctx.ip, userAgent: ctx.get('user-agent') }, clientId);
    deps.onLogin?.(result.ok ? 'success' : result.reason === 'locked' ? 'locked' : 'failure');
    if (!result.ok) {
      // One message for an unknown passkey, a bad signature and a clone (no enumeration); a lock-out says so.
      ctx.type = 'html';
      ctx.status = result.reason === 'locked' ? 429 : 401;
      if (result.reason === 'locked') ctx.set('Retry-After', String(result.lockedForSeconds));
      const description =
        result.reason === 'locked'
          ? strings.login.tooMany(Math.ceil(result.lockedForSeconds / 60))
          : result.reason === 'no_challenge'
            ? strings.passkeys.expired
            : strings.passkeys.failed;
      ctx.body = renderPage('passkey-failed', { description, backUrl: `${INTERACTION_PATH}/${details.uid}` });
      return;
    }
    ctx.state.accountId = result.account.id;
    // A passkey with user verification is two factors in one (services/passkeys.ts): the MFA level.
    const login = { accountId: result.account.id, amr: result.amr, acr: ACR_MFA };
    const redirectTo = await provider().interactionResult(ctx.req, ctx.res, { login }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  return router;
}
