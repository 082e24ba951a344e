// What the admin API's boundary needs beyond the operations table: whether an admin token is still good
// (revoked, its client disabled or deleted), and the audit record of every write.
import type { ServiceContext } from './context.ts';
import { jwtTokenState } from '../store/revocations.ts';
import { recordAudit, type AuditEvent } from '../domain/audit.ts';

export function adminTokenState(ctx: ServiceContext, token: { jti: string; clientId: string; issuedAt: number }) {
  return jwtTokenState(ctx.runtime.db, token);
}

export function auditAdminRequest(ctx: ServiceContext, event: AuditEvent): Promise<void> {
  return recordAudit(ctx.runtime.db, event);
}
