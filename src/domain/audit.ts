// The audit trail: sign-ins, sign-outs, consent, revocations and account changes. Never a password or token.
import type { Db } from '../store/db.ts';
import { insertAuditEvent, type AuditEvent } from '../store/audit.ts';

export type { AuditEvent };

export async function recordAudit(db: Db, event: AuditEvent): Promise<void> {
  await insertAuditEvent(db, event);
}
