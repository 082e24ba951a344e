// Keyset pagination: a page is "the next `limit` rows after the last one seen" in a fixed order, so rows
// added or removed meanwhile never shift a page (no duplicates, no gaps) and no OFFSET scan grows with
// depth. The cursor is opaque to callers: base64url of the last row's sort key.
import type { Knex } from 'knex';
import { ValidationError } from '../errors.ts';
import { isRepresentableText } from '../representable.ts';

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** One column of the sort key; the last must be unique. */
export interface KeyColumn {
  column: string;
  kind: 'timestamp' | 'bigint' | 'text';
}

// Microseconds, in UTC: a JavaScript Date would drop PostgreSQL's last three digits and repeat rows.
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

const BIGINT_MAX = 9223372036854775807n;

// Every part must be a value its column can hold, or PostgreSQL refuses the query (22003, 22008, 22021).
function validKeyPart(kind: KeyColumn['kind'], value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 512) return false;
  if (kind === 'bigint') return /^\d{1,19}$/.test(value) && BigInt(value) <= BIGINT_MAX;
  if (kind === 'timestamp') {
    // Year 0000 is valid to JavaScript (1 BC) but not to PostgreSQL.
    if (!TIMESTAMP.test(value) || value.startsWith('0000')) return false;
    const date = new Date(value.slice(0, 23) + 'Z');
    return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 23) === value.slice(0, 23);
  }
  return isRepresentableText(value);
}

function decodeCursor(cursor: string, keys: readonly KeyColumn[]): string[] {
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parts = undefined;
  }
  if (!Array.isArray(parts) || parts.length !== keys.length || !parts.every((p, i) => validKeyPart(keys[i]!.kind, p))) {
    throw new ValidationError('cursor is not valid (pass next_cursor from the previous page unchanged)', 400);
  }
  return parts as string[];
}

const CAST = { timestamp: 'timestamptz', bigint: 'bigint', text: 'text' } as const;

/**
 * Runs `query` (filters already applied) as one page, in `direction` order of `keys`. `map` turns a row
 * into an item; the row also carries `cursor_key_<i>` columns, which it may ignore.
 */
export async function keysetPage<T>(
  db: Knex,
  query: Knex.QueryBuilder,
  options: { keys: readonly KeyColumn[]; direction: 'asc' | 'desc'; page: PageRequest },
  map: (row: Record<string, unknown>) => T,
): Promise<Page<T>> {
  const { keys, direction, page } = options;
  keys.forEach((k, i) => {
    const alias = `cursor_key_${i}`;
    if (k.kind === 'timestamp') query.select(db.raw(`to_char(?? at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as ??`, [k.column, alias]));
    else query.select(db.raw('??::text as ??', [k.column, alias]));
  });
  if (page.cursor !== undefined) {
    const after = decodeCursor(page.cursor, keys);
    const columns = keys.map(() => '??').join(', ');
    const values = keys.map((k) => `?::${CAST[k.kind]}`).join(', ');
    // A row comparison, which an index on the same columns answers directly.
    query.whereRaw(`(${columns}) ${direction === 'asc' ? '>' : '<'} (${values})`, [...keys.map((k) => k.column), ...after]);
  }
  for (const k of keys) query.orderBy(k.column, direction);
  const rows: Array<Record<string, unknown>> = await query.limit(page.limit + 1);
  const more = rows.length > page.limit;
  const items = rows.slice(0, page.limit);
  const last = items[items.length - 1];
  const nextCursor = more && last ? Buffer.from(JSON.stringify(keys.map((_k, i) => last[`cursor_key_${i}`]))).toString('base64url') : null;
  return { items: items.map(map), nextCursor };
}
