// Engine events → logs. Never log token values: only kinds, client ids and error codes.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../logger.ts';

export function attachEngineEvents(provider: Provider, logger: Logger): void {
  provider.on('server_error', (ctx, error) => {
    logger.error({ err: { message: error.message, stack: error.stack }, path: ctx.path }, 'engine server_error');
  });
  const onOAuthError = (event: string) => (ctx: KoaContextWithOIDC, error: Error) => {
    const e = error as Error & { error?: string; error_detail?: string; status?: number };
    logger.info({ event, error: e.error, detail: e.error_detail, status: e.status, client_id: ctx.oidc?.client?.clientId }, 'oauth error');
  };
  provider.on('grant.error', onOAuthError('grant.error'));
  provider.on('introspection.error', onOAuthError('introspection.error'));
  provider.on('revocation.error', onOAuthError('revocation.error'));
  provider.on('authorization.error', onOAuthError('authorization.error'));
  provider.on('end_session.error', onOAuthError('end_session.error'));
  provider.on('userinfo.error', onOAuthError('userinfo.error'));
  provider.on('grant.revoked', (_ctx, grantId) => logger.info({ event: 'grant.revoked', grant_id: grantId }, 'grant revoked'));
}
