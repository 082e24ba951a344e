// Engine events → logs. Never log token values: only kinds, client ids and error codes.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { UnitOfWork } from '../store/unit-of-work.ts';
import { recordAudit } from '../domain/audit.ts';

export function attachEngineEvents(provider: Provider, logger: Logger, unitOfWork: UnitOfWork): void {
  let queued = 0;
  const audit = (ctx: KoaContextWithOIDC, type: string, extra: { accountId?: string; details?: Record<string, unknown> } = {}) => {
    const event = { type, clientId: ctx.oidc?.client?.clientId, ip: ctx.ip, userAgent: ctx.get('user-agent'), ...extra };
    // In a refresh exchange's transaction (a replay's revocation), the row commits with the revocation.
    const unit = unitOfWork.open();
    if (unit) return unit.beforeCommit(`audit:${++queued}`, (trx) => recordAudit(trx, event));
    recordAudit(unitOfWork.db, event).catch((error: Error) => logger.error({ err: { message: error.message }, type }, 'audit write failed'));
  };
  // The session is destroyed by then, but the engine's in-memory copy still names its account.
  provider.on('end_session.success', (ctx) => void audit(ctx, 'logout', { accountId: ctx.oidc.session?.accountId }));
  // Refresh-token reuse, code replay and revocation at the revocation endpoint all end up here.
  provider.on('grant.revoked', (ctx, grantId) => void audit(ctx, 'grant.revoked', { details: { grant_id: grantId, route: ctx.oidc?.route } }));
  provider.on('backchannel.error', (ctx, error, client) =>
    logger.warn({ client_id: client.clientId, err: { message: error.message } }, 'back-channel logout delivery failed'),
  );
  provider.on('server_error', (ctx, error) => {
    logger.error({ err: { message: error.message, stack: error.stack }, path: ctx.path }, 'engine server_error');
  });
  const onOAuthError = (event: string) => (ctx: KoaContextWithOIDC, error: Error) => {
    const e = error as Error & { error?: string; error_detail?: string; status?: number };
    // 5xx (the database unreachable) is the operator's problem, so it is a warning; 4xx is the caller's.
    const level = (e.status ?? 400) >= 500 ? 'warn' : 'info';
    logger[level]({ event, error: e.error, detail: e.error_detail?.slice(0, 300), status: e.status, client_id: ctx.oidc?.client?.clientId }, 'oauth error');
  };
  provider.on('grant.error', onOAuthError('grant.error'));
  provider.on('introspection.error', onOAuthError('introspection.error'));
  provider.on('revocation.error', onOAuthError('revocation.error'));
  provider.on('authorization.error', onOAuthError('authorization.error'));
  provider.on('end_session.error', onOAuthError('end_session.error'));
  provider.on('userinfo.error', onOAuthError('userinfo.error'));

}
