// Sign-in attempt counters and lock-outs in the login_attempts table (key, points, expire in milliseconds
// since the epoch, created by migration 20261123010000; store/cleanup.ts deletes lapsed rows). Every change is
// one statement, so PostgreSQL's row lock puts concurrent sign-ins on one key in a line, and the times come
// from the database's clock, one clock for every server process. The same SQL runs on PGlite.
import type { Db } from './db.ts';

// Fixed for the whole statement, so every CASE below sees the same instant.
const NOW = '(extract(epoch from statement_timestamp()) * 1000)::bigint';

export type TakenPoint = { taken: true; points: number; expire: number } | { taken: false; retryAfterMs: number };

const rowsOf = (result: unknown) => ((result as { rows?: Array<Record<string, unknown>> }).rows ?? []);

/**
 * Takes one of `limit` points of `key`, or refuses, changing nothing, when all are taken and their window
 * or lock is still running. The first point opens a window of `windowMs`; the point that reaches `limit`
 * turns it into a lock of `lockMs` from now.
 */
export async function takePoint(db: Db, key: string, rule: { limit: number; windowMs: number; lockMs: number }): Promise<TakenPoint> {
  const over = `coalesce(a.expire, 0) <= ${NOW}`;
  const taken = rowsOf(
    await db.raw(
      `INSERT INTO login_attempts AS a (key, points, expire) VALUES (?, 1, ${NOW} + ?)
       ON CONFLICT (key) DO UPDATE SET
         points = CASE WHEN ${over} THEN 1 ELSE a.points + 1 END,
         expire = CASE WHEN ${over} THEN excluded.expire WHEN a.points + 1 >= ? THEN ${NOW} + ? ELSE a.expire END
       WHERE ${over} OR a.points < ?
       RETURNING points, expire`,
      [key, rule.limit <= 1 ? rule.lockMs : rule.windowMs, rule.limit, rule.lockMs, rule.limit],
    ),
  )[0];
  if (taken) return { taken: true, points: Number(taken.points), expire: Number(taken.expire) };
  // Refused: a separate statement, so it sees the lock as the request that holds the row left it.
  const left = rowsOf(await db.raw(`SELECT expire - ${NOW} AS ms FROM login_attempts WHERE key = ?`, [key]))[0];
  return { taken: false, retryAfterMs: Math.max(1000, Number(left?.ms ?? 0)) };
}

/** Gives a point back (a correct password, or an attempt another key refused); never below zero. */
export async function returnPoint(db: Db, key: string): Promise<void> {
  await db.raw(`UPDATE login_attempts SET points = points - 1 WHERE key = ? AND points > 0 AND expire > ${NOW}`, [key]);
}

/** Lengthens the lock a takePoint started (`from` is the expiry it returned); no-op if it changed since. */
export async function extendLock(db: Db, key: string, from: number, to: number): Promise<void> {
  await db.raw('UPDATE login_attempts SET expire = ? WHERE key = ? AND expire = ?', [to, key, from]);
}

export async function clearPoints(db: Db, key: string): Promise<void> {
  await db.raw('DELETE FROM login_attempts WHERE key = ?', [key]);
}

/** Counts an event under `key` within a window of `windowMs` from the first one; returns the count. */
export async function countEvent(db: Db, key: string, windowMs: number): Promise<number> {
  const over = `coalesce(a.expire, 0) <= ${NOW}`;
  const row = rowsOf(
    await db.raw(
      `INSERT INTO login_attempts AS a (key, points, expire) VALUES (?, 1, ${NOW} + ?)
       ON CONFLICT (key) DO UPDATE SET
         points = CASE WHEN ${over} THEN 1 ELSE a.points + 1 END,
         expire = CASE WHEN ${over} THEN excluded.expire ELSE a.expire END
       RETURNING points`,
      [key, windowMs],
    ),
  )[0];
  return Number(row?.points ?? 1);
}
