// rate-limiter-flexible's PostgreSQL store speaks the `pg` query API ({ text, values } with $n
// placeholders). This adapter runs those queries through knex, so the same limiter works on PostgreSQL and
// on embedded PGlite (whose single connection must not be taken out of knex's pool).
import type { Db } from './db.ts';

export function createLimiterStoreClient(db: Db) {
  return {
    async query(q: { text: string; values?: unknown[] }): Promise<{ rows: unknown[]; rowCount: number }> {
      const values = q.values ?? [];
      const bindings: unknown[] = [];
      const sql = q.text.replace(/\$(\d+)/g, (_m, n: string) => {
        bindings.push(values[Number(n) - 1]);
        return '?';
      });
      const result = (await db.raw(sql, bindings as never[])) as { rows?: unknown[]; rowCount?: number; affectedRows?: number };
      const rows = result.rows ?? [];
      // PGlite reports affectedRows (0 for a SELECT) where pg reports rowCount; rows decide when present.
      return { rows, rowCount: rows.length > 0 ? rows.length : (result.rowCount ?? result.affectedRows ?? 0) };
    },
  };
}
