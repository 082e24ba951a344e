// Which existing grant an authorization request may reuse (engine hook `loadExistingGrant`, see
// oidc-provider docs "loadExistingGrant"): a grant whose consent the person asked us to remember, or — for
// first-party clients — a grant made on the spot, so they never show a consent page.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { isConsentRemembered, markConsentRemembered } from '../store/grants-and-sessions.ts';
import { clientExtra } from './client-extras.ts';

export const FIRST_PARTY_PROPERTY = 'tessera_first_party';

export function createLoadExistingGrant(db: Db) {
  return async function loadExistingGrant(ctx: KoaContextWithOIDC) {
    const { client, session, provider } = ctx.oidc;
    if (!client || !session?.accountId) return undefined;
    const justConsented = ctx.oidc.result?.consent?.grantId as string | undefined;
    const grantId = justConsented ?? session.grantIdFor(client.clientId);
    const firstParty = clientExtra(client, FIRST_PARTY_PROPERTY) === true;

    if (grantId && (justConsented || firstParty || (await isConsentRemembered(db, grantId)))) {
      const grant = await provider.Grant.find(grantId);
      if (grant && !firstParty) return grant;
      if (grant && firstParty) return widenGrant(ctx, grant);
    }
    if (!firstParty) return undefined;
    const grant = new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    return widenGrant(ctx, grant);
  };

  async function widenGrant(ctx: KoaContextWithOIDC, grant: InstanceType<KoaContextWithOIDC['oidc']['provider']['Grant']>) {
    const requested = [...(ctx.oidc.requestParamScopes ?? [])].join(' ');
    grant.addOIDCScope(requested);
    for (const [indicator, server] of Object.entries(ctx.oidc.resourceServers ?? {})) {
      const allowed = new Set((server.scope ?? '').split(' '));
      grant.addResourceScope(indicator, requested.split(' ').filter((s) => allowed.has(s)).join(' '));
    }
    const id = await grant.save();
    await markConsentRemembered(db, id);
    return grant;
  }
}
