// Counts the SQL statements a knex instance runs, and the time from sending each to its answer (database
// round trip plus any event-loop delay before the answer is handled). Grouped by statement text.
import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';

export interface StatementStats {
  sql: string;
  count: number;
  ms: number;
}

interface QueryEvent {
  __knexQueryUid?: string;
  sql?: string;
}

export function countQueries(db: Knex) {
  const started = new Map<string, number>();
  let stats = new Map<string, StatementStats>();
  const shapes = new Map<string, string>();
  // Collapse IN-lists and VALUES lists so one statement shape is one row (memoised: this runs per query).
  const shape = (raw: string) => {
    let s = shapes.get(raw);
    if (s === undefined) {
      s = raw.replace(/\s+/g, ' ').replace(/\((?:\s*(?:\?|\$\d+)\s*,)+\s*(?:\?|\$\d+)\s*\)/g, '(…)').slice(0, 160);
      if (shapes.size < 10_000) shapes.set(raw, s);
    }
    return s;
  };
  const finish = (q: QueryEvent) => {
    const uid = q.__knexQueryUid ?? '';
    const t0 = started.get(uid);
    started.delete(uid);
    const sql = shape(String(q.sql ?? '?'));
    const entry = stats.get(sql) ?? { sql, count: 0, ms: 0 };
    entry.count++;
    if (t0 !== undefined) entry.ms += performance.now() - t0;
    stats.set(sql, entry);
  };
  db.on('query', (q: QueryEvent) => {
    if (q.__knexQueryUid) started.set(q.__knexQueryUid, performance.now());
  });
  db.on('query-response', (_response: unknown, q: QueryEvent) => finish(q));
  db.on('query-error', (_error: unknown, q: QueryEvent) => finish(q));
  return {
    reset() {
      stats = new Map();
    },
    snapshot(): StatementStats[] {
      return [...stats.values()].sort((a, b) => b.count - a.count);
    },
  };
}

export interface CleanupStats {
  /** Clean-up DELETE statements (store/cleanup.ts: `DELETE FROM <table> WHERE <key> IN (SELECT … FOR UPDATE SKIP LOCKED)`). */
  statements: number;
  /** Rows they deleted, per table. */
  rows: Record<string, number>;
  /** Time from sending them to their answers, milliseconds. */
  ms: number;
}

/**
 * Watches the expired-row clean-up (server.ts runs it every CLEANUP_INTERVAL seconds) through knex's query
 * events: how often it ran a delete, how many rows went, how long its statements took.
 */
export function countCleanup(db: Knex) {
  const started = new Map<string, number>();
  let stats: CleanupStats = { statements: 0, rows: {}, ms: 0 };
  // store/cleanup.ts deleteExpiredBatch: WITH deleted AS (DELETE FROM "t" WHERE … SKIP LOCKED) RETURNING …) SELECT count(*) AS deleted …
  const table = (sql: string | undefined) => /^WITH deleted AS \(DELETE FROM "([a-z_]+)" WHERE "[a-z_]+" IN \(SELECT .* FOR UPDATE SKIP LOCKED\)/s.exec(sql ?? '')?.[1];
  db.on('query', (q: QueryEvent) => {
    if (q.__knexQueryUid && table(q.sql)) started.set(q.__knexQueryUid, performance.now());
  });
  db.on('query-response', (response: { rows?: Array<{ deleted?: unknown }> } | undefined, q: QueryEvent) => {
    const name = table(q.sql);
    if (!name) return;
    const t0 = started.get(q.__knexQueryUid ?? '');
    started.delete(q.__knexQueryUid ?? '');
    stats.statements++;
    stats.rows[name] = (stats.rows[name] ?? 0) + Number(response?.rows?.[0]?.deleted ?? 0);
    if (t0 !== undefined) stats.ms += performance.now() - t0;
  });
  return {
    reset() {
      stats = { statements: 0, rows: {}, ms: 0 };
    },
    snapshot: () => stats,
  };
}
