import type { Db } from './db.ts';

export interface AuditEvent {
  type: string;
  accountId?: string | null | undefined;
  clientId?: string | null | undefined;
  ip?: string | null | undefined;
  userAgent?: string | null | undefined;
  details?: Record<string, unknown>;
}

export interface AuditRow extends Required<Omit<AuditEvent, 'details'>> {
  id: string;
  at: Date;
  details: Record<string, unknown>;
}

export async function insertAuditEvent(db: Db, event: AuditEvent): Promise<void> {
  await db('audit_events').insert({
    type: event.type,
    account_id: event.accountId ?? null,
    client_id: event.clientId ?? null,
    ip: event.ip ?? null,
    user_agent: event.userAgent?.slice(0, 512) ?? null,
    details: JSON.stringify(event.details ?? {}),
  });
}

export async function listAuditEvents(db: Db, filter: { type?: string; accountId?: string; limit?: number } = {}): Promise<AuditRow[]> {
  const q = db('audit_events').orderBy('id', 'desc').limit(filter.limit ?? 100);
  if (filter.type) q.where('type', filter.type);
  if (filter.accountId) q.where('account_id', filter.accountId);
  const rows = await q;
  return rows.map((r: Record<string, unknown>) => ({
    id: String(r.id),
    at: r.at as Date,
    type: r.type as string,
    accountId: r.account_id as string | null,
    clientId: r.client_id as string | null,
    ip: r.ip as string | null,
    userAgent: r.user_agent as string | null,
    details: r.details as Record<string, unknown>,
  }));
}
