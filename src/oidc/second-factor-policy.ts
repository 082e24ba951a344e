// The engine's interaction policy with one more login check: a signed-in person whose session lacks a
// second factor (amr without `mfa`) is asked for one when this request needs it — the client asked for
// acr_values=urn:tessera:acr:mfa (step-up), the client requires it (tessera_require_mfa), or the account
// does (it holds a factor, or MFA_REQUIRED / MFA_REQUIRED_ROLES). The interaction then shows only the
// second-factor step (http/interactions.ts → http/second-factor-step.ts), not the password form.
// Engine docs: "interactions.policy" (https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#interactionspolicy).
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.ts';
import type { Db } from '../store/db.ts';
import { accountRequiresMfa, acrAsksForMfa, clientRequiresMfa, hasMfa } from '../domain/second-factor-policy.ts';
import { guardDatabase } from './database-errors.ts';

/** The check's reason, as the interaction's prompt.reasons names it. */
export const SECOND_FACTOR_REASON = 'tessera_second_factor';

export function createInteractionPolicy(db: Db, config: Config) {
  const { Check, base } = interactionPolicy;
  const policy = base();
  const login = policy.get('login')!;
  // A database outage here is a 503 with Retry-After, as in every other engine hook.
  const requiresMfa = guardDatabase((accountId: string) => accountRequiresMfa(db, config.mfa, accountId));
  login.checks.add(
    new Check(SECOND_FACTOR_REASON, 'a second factor is required', async (ctx: KoaContextWithOIDC) => {
      const { session, client, params } = ctx.oidc;
      if (!session?.accountId || hasMfa(session.amr as string[] | undefined)) return Check.NO_NEED_TO_PROMPT;
      if (clientRequiresMfa(client?.metadata()) || acrAsksForMfa(params?.acr_values)) return Check.REQUEST_PROMPT;
      return (await requiresMfa(session.accountId)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}
