// The audit trail: sign-ins, sign-outs, consent, revocations and account changes. Never a password or token.
import type { Db } from '../store/db.ts';
import { insertAuditEvent, type AuditEvent, type AuditRow } from '../store/audit.ts';

export type { AuditEvent };

export async function recordAudit(db: Db, event: AuditEvent): Promise<void> {
  await insertAuditEvent(db, event);
}

export { listAuditPage, type AuditFilter } from '../store/audit.ts';

export function publicAuditEvent(e: AuditRow) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    type: e.type,
    account_id: e.accountId,
    client_id: e.clientId,
    ip: e.ip,
    user_agent: e.userAgent,
    details: e.details,
  };
}
