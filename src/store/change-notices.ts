// Changes other server processes must see at once (not on their next poll or cache expiry): a notice on
// one PostgreSQL channel, sent in the changing transaction and so delivered at commit, in commit order,
// only if it commits. revocation-watch.ts listens and hands them to the server (server.ts), which reloads
// the key set or drops a cached client or resource server. On embedded PGlite there is one process, and
// the notice is harmless.
import type { Db } from './db.ts';

export const CHANGES_CHANNEL = 'tessera_changes';

export type ChangeNotice = { kind: 'keys' } | { kind: 'client'; id: string } | { kind: 'resource'; id: string };

export async function noticeChange(db: Db, change: ChangeNotice): Promise<void> {
  await db.raw('select pg_notify(?, ?)', [CHANGES_CHANNEL, 'id' in change ? `${change.kind}:${change.id}` : change.kind]);
}

/** The notice a payload on CHANGES_CHANNEL stands for, or undefined for one this version does not know. */
export function parseChangeNotice(payload: string): ChangeNotice | undefined {
  if (payload === 'keys') return { kind: 'keys' };
  const at = payload.indexOf(':');
  const kind = payload.slice(0, at);
  const id = payload.slice(at + 1);
  if (at > 0 && id && (kind === 'client' || kind === 'resource')) return { kind, id };
  return undefined;
}
