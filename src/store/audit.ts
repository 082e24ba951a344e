import type { Db } from './db.ts';
import { keysetPage, type Page, type PageRequest } from './pagination.ts';

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
  await insertAuditEvents(db, [event]);
}

export async function listAuditEvents(db: Db, filter: { type?: string; accountId?: string; limit?: number } = {}): Promise<AuditRow[]> {
  const q = db('audit_events').orderBy('id', 'desc').limit(filter.limit ?? 100);
  if (filter.type) q.where('type', filter.type);
  if (filter.accountId) q.where('account_id', filter.accountId);
  const rows = await q;
  return rows.map(toAuditRow);
}

const toAuditRow = (r: Record<string, unknown>): AuditRow => ({
  id: String(r.id),
  at: r.at as Date,
  type: r.type as string,
  accountId: r.account_id as string | null,
  clientId: r.client_id as string | null,
  ip: r.ip as string | null,
  userAgent: r.user_agent as string | null,
  details: r.details as Record<string, unknown>,
});

export interface AuditFilter {
  since?: Date | undefined;
  until?: Date | undefined;
  /** A client id or an account id: events either acted on or by. */
  actor?: string | undefined;
  type?: string | undefined;
}

/** Newest first, by id (the order events were written in). `since` is inclusive, `until` exclusive. */
export async function listAuditPage(db: Db, filter: AuditFilter, page: PageRequest): Promise<Page<AuditRow>> {
  const query = db('audit_events').select('*');
  if (filter.since) query.where('at', '>=', filter.since);
  if (filter.until) query.where('at', '<', filter.until);
  if (filter.type) query.where('type', filter.type);
  const actor = filter.actor;
  if (actor) query.where((q) => q.where('client_id', actor).orWhere('account_id', actor));
  return keysetPage(db, query, { keys: [{ column: 'id', kind: 'bigint' }], direction: 'desc', page }, toAuditRow);
}

/** Several events in one statement (the buffered writer for high-volume events). */
export async function insertAuditEvents(db: Db, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db('audit_events').insert(
    events.map((event) => ({
      type: event.type,
      account_id: event.accountId ?? null,
      client_id: event.clientId ?? null,
      ip: event.ip ?? null,
      user_agent: event.userAgent?.slice(0, 512) ?? null,
      details: JSON.stringify(event.details ?? {}),
    })),
  );
}

/** Deletes events older than `before`, a batch at a time; returns how many went. */
export async function deleteAuditEventsBefore(db: Db, before: Date, batchSize = 5000): Promise<number> {
  const result = await db.raw(
    'DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)',
    [before, batchSize],
  );
  return (result as { rowCount?: number; affectedRows?: number }).rowCount ?? (result as { affectedRows?: number }).affectedRows ?? 0;
}
