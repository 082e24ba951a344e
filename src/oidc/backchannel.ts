// OpenID Connect Back-Channel Logout 1.0 for sessions ended outside the engine's own end_session flow
// (account disabled, password changed, sessions ended by an operator): each client that took part in the
// session and registered a backchannel_logout_uri receives a signed logout token.
import type Provider from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { EndedSession } from '../store/grants-and-sessions.ts';

export async function sendBackchannelLogouts(provider: Provider, logger: Logger, ended: EndedSession[]): Promise<number> {
  const deliveries: Promise<boolean>[] = [];
  for (const session of ended) {
    for (const [clientId, sid] of Object.entries(session.sids)) {
      deliveries.push(
        (async () => {
          const client = await provider.Client.find(clientId);
          if (!client?.backchannelLogoutUri) return false;
          await (client.backchannelLogout as (sub: string, sid: string) => Promise<void>)(session.accountId, sid);
          return true;
        })().catch((error: Error) => {
          logger.warn({ client_id: clientId, err: { message: error.message } }, 'back-channel logout delivery failed');
          return false;
        }),
      );
    }
  }
  return (await Promise.all(deliveries)).filter(Boolean).length;
}
