// Changes other server processes must see at once (not on their next poll or cache expiry): a notice on
// one PostgreSQL channel, sent in the changing transaction and so delivered at commit, in commit order,
// only if it commits. revocation-watch.ts listens and hands them to the server (server.ts), which reloads
// the key set or drops a cached client, resource server, account or grant. The process making the change
// is also told at once, through a hook per database handle (onChangeNoticed), so its own caches never
// outlive its own writes — on embedded PGlite, with one process and no listener, that is the only path.
import type { Db } from './db.ts';
import { createHandleHook } from './handle-hooks.ts';

export const CHANGES_CHANNEL = 'tessera_changes';

const KINDS = ['client', 'resource', 'account', 'grant'] as const;
export type ChangeNotice = { kind: 'keys' } | { kind: (typeof KINDS)[number]; id: string };

const noticed = createHandleHook<(change: ChangeNotice) => void>();

/** Called for every notice this database handle sends, before its transaction commits. */
export function onChangeNoticed(db: Db, hook: (change: ChangeNotice) => void): void {
  noticed.set(db, hook);
}

export async function noticeChange(db: Db, change: ChangeNotice): Promise<void> {
  await db.raw('select pg_notify(?, ?)', [CHANGES_CHANNEL, 'id' in change ? `${change.kind}:${change.id}` : change.kind]);
  noticed.get(db)?.(change);
}

/** One notice per id, in one statement (a client's revocation may end thousands of grants). */
export async function noticeChanges(db: Db, kind: (typeof KINDS)[number], ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.raw(`select pg_notify(?, ? || ':' || id) from unnest(?::text[]) as id`, [CHANGES_CHANNEL, kind, ids as string[]]);
  const hook = noticed.get(db);
  for (const id of ids) hook?.({ kind, id });
}

/** The notice a payload on CHANGES_CHANNEL stands for, or undefined for one this version does not know. */
export function parseChangeNotice(payload: string): ChangeNotice | undefined {
  if (payload === 'keys') return { kind: 'keys' };
  const at = payload.indexOf(':');
  const kind = payload.slice(0, at);
  const id = payload.slice(at + 1);
  if (at > 0 && id && (KINDS as readonly string[]).includes(kind)) return { kind: kind as (typeof KINDS)[number], id };
  return undefined;
}
