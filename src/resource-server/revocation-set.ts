// What the revocation feed has said so far, in memory: revoked token ids, revoked grants, disabled clients.
// Each entry lives until the event's valid_until (plus a margin for clock skew between this machine and
// the issuer), after which every token it covers has expired anyway.
import type { AccessTokenClaims, RevocationEvent } from './types.ts';

interface ClientEntry {
  /** Tokens of the client issued at or before this (issuer clock, seconds) are revoked. */
  disabledAt: number;
  validUntil: number;
}

export function createRevocationSet(options: { pruneMarginSeconds: number }) {
  const tokens = new Map<string, number>(); // jti → valid_until
  const grants = new Map<string, number>(); // gid → valid_until
  const clients = new Map<string, ClientEntry>();

  const later = (a: number | undefined, b: number) => (a === undefined ? b : Math.max(a, b));

  return {
    /** Applies one event; unknown types are ignored (false), as are events missing their subject. */
    apply(e: RevocationEvent): boolean {
      if (typeof e.valid_until !== 'number') return false;
      if (e.type === 'token-revoked' && typeof e.jti === 'string') {
        tokens.set(e.jti, later(tokens.get(e.jti), e.valid_until));
        return true;
      }
      if (e.type === 'session-revoked' && typeof e.gid === 'string') {
        grants.set(e.gid, later(grants.get(e.gid), e.valid_until));
        return true;
      }
      if (e.type === 'client-disabled' && typeof e.client_id === 'string' && typeof e.occurred_at === 'number') {
        const known = clients.get(e.client_id);
        clients.set(e.client_id, { disabledAt: later(known?.disabledAt, e.occurred_at), validUntil: later(known?.validUntil, e.valid_until) });
        return true;
      }
      return false;
    },

    /** Why a token whose signature and claims are fine is nevertheless revoked; undefined if it is not. */
    revocationOf(claims: AccessTokenClaims): string | undefined {
      if (tokens.has(claims.jti)) return 'the token was revoked';
      if (claims.gid !== undefined && grants.has(claims.gid)) return 'the grant the token was issued from was revoked';
      const client = clients.get(claims.client_id);
      if (client && claims.iat <= client.disabledAt) return 'the client was disabled after the token was issued';
      return undefined;
    },

    /** Drops entries whose tokens have all expired. */
    prune(nowSeconds = Date.now() / 1000): void {
      const cutoff = nowSeconds - options.pruneMarginSeconds;
      for (const [k, until] of tokens) if (until < cutoff) tokens.delete(k);
      for (const [k, until] of grants) if (until < cutoff) grants.delete(k);
      for (const [k, entry] of clients) if (entry.validUntil < cutoff) clients.delete(k);
    },

    /** The entries in force, as events (for a checkpoint); replaying them with apply() rebuilds this set. */
    snapshot(): RevocationEvent[] {
      const events: RevocationEvent[] = [];
      for (const [jti, until] of tokens) events.push({ cursor: '', type: 'token-revoked', jti, occurred_at: 0, valid_until: until });
      for (const [gid, until] of grants) events.push({ cursor: '', type: 'session-revoked', gid, occurred_at: 0, valid_until: until });
      for (const [clientId, entry] of clients) events.push({ cursor: '', type: 'client-disabled', client_id: clientId, occurred_at: entry.disabledAt, valid_until: entry.validUntil });
      return events;
    },

    sizes() {
      return { revokedTokens: tokens.size, revokedGrants: grants.size, disabledClients: clients.size };
    },
  };
}

export type RevocationSet = ReturnType<typeof createRevocationSet>;
