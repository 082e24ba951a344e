// The revocations in force, held in memory: a mirror of the durable revocation feed (revocation_events,
// appended in commit order, every row kept until the tokens it covers have expired). What the
// `revocations` table answers per query — is this jti, this grant, or this client (for tokens issued at or
// before its latest revocation) revoked — this answers from memory. A pure rule: the caller feeds it the
// events in id order and decides whether it is current enough to be asked (revocation-watch.ts).

import type { RevocationEventRow } from '../store/revocations.ts';

export type { RevocationEventRow };

export interface TokenIdentity {
  jti: string;
  grantId?: string | undefined;
  clientId: string;
  /** The token's `iat`, in seconds. */
  issuedAt: number;
}

export function createRevocationState() {
  // value → when the entry may be forgotten (ms): the latest expiry of the events naming it.
  const jtis = new Map<string, number>();
  const grants = new Map<string, number>();
  // client → its latest revocation (ms) and when that may be forgotten.
  const clients = new Map<string, { at: number; until: number }>();
  let lastId = 0n;

  const keep = (map: Map<string, number>, key: string, until: number) => map.set(key, Math.max(map.get(key) ?? 0, until));

  return {
    /** The id of the last event applied ('0' before any). */
    get lastId(): bigint {
      return lastId;
    },

    /** Applies events in id order; ones already applied are skipped. */
    apply(events: readonly RevocationEventRow[]): void {
      for (const e of events) {
        const id = BigInt(e.id);
        if (id <= lastId) continue;
        lastId = id;
        const until = e.expiresAt.getTime();
        if (e.type === 'token-revoked' && e.jti) keep(jtis, e.jti, until);
        else if (e.type === 'session-revoked' && e.grantId) keep(grants, e.grantId, until);
        else if (e.type === 'client-disabled' && e.clientId) {
          const seen = clients.get(e.clientId);
          clients.set(e.clientId, { at: Math.max(seen?.at ?? 0, e.occurredAt.getTime()), until: Math.max(seen?.until ?? 0, until) });
        }
      }
    },

    /** Moves the position on without events (the feed is empty, or holds only expired rows). */
    advanceTo(id: bigint): void {
      if (id > lastId) lastId = id;
    },

    /**
     * The same answer as the revocations table: the jti or the grant is revoked, or the client was revoked
     * in or after the second the token was issued (tokens carry whole-second `iat`).
     */
    isRevoked(token: TokenIdentity): boolean {
      if (jtis.has(token.jti)) return true;
      if (token.grantId && grants.has(token.grantId)) return true;
      const client = clients.get(token.clientId);
      return client !== undefined && client.at >= token.issuedAt * 1000;
    },

    /** Forgets entries whose tokens have all expired (as the clean-up job deletes their rows). */
    prune(nowMs: number): void {
      for (const map of [jtis, grants]) for (const [key, until] of map) if (until <= nowMs) map.delete(key);
      for (const [key, entry] of clients) if (entry.until <= nowMs) clients.delete(key);
    },

    get size(): number {
      return jtis.size + grants.size + clients.size;
    },
  };
}

export type RevocationState = ReturnType<typeof createRevocationState>;
