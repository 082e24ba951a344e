// Introspection and revocation of JWT access tokens, which the engine neither stores nor accepts at those
// endpoints (it refuses structured tokens). The host hands such a token to the engine as
// `jwt:<token>` (see http/middleware/engine-request.ts); the adapter's AccessToken / ClientCredentials
// `find` lands here, verifies it (signature with our keys, iss, exp, nbf, typ) and checks, in one query,
// that its jti, grant and client are not revoked, its grant still exists, and its client and account are
// enabled. The engine then answers exactly as for a stored token. `destroy` records the jti as revoked.
import type { Db } from '../store/db.ts';
import type { Payload } from '../store/engine-records.ts';
import { jwtSubjectState, jwtTokenState, recordRevocations, type JwtTokenState, type SubjectState } from '../store/revocations.ts';
import type { AccessTokenVerifier } from '../domain/access-token-verifier.ts';
import type { TokenIdentity } from '../domain/revocation-state.ts';
import { createShortLivedCache } from './short-lived-cache.ts';
import { isDocumentClientId } from '../domain/client-id-metadata-documents.ts';

/** The in-memory revocations (revocation-watch.ts): undefined when memory may be behind. */
export interface RevocationMemory {
  isRevoked(token: TokenIdentity): Promise<boolean | undefined>;
}

export const JWT_HANDLE_PREFIX = 'jwt:';

interface Seen {
  exp: number;
  audiences: string[];
  clientId: string;
  sub: string | undefined;
}

const RECENT_LIMIT = 1000;

/**
 * RFC 9068 §2.2 / RFC 9449 §6.1: a bound JWT carries its key's thumbprint as `cnf.jkt`; the engine's model
 * keeps it as `jkt` (and a certificate's as `x5t#S256`), from which its introspection answers `cnf` and
 * token_type DPoP. Left in `extra`, the binding would be reported as a plain bearer token.
 */
function senderConstraint(cnf: unknown): { jkt?: string; 'x5t#S256'?: string } {
  if (typeof cnf !== 'object' || cnf === null) return {};
  const { jkt, 'x5t#S256': x5t } = cnf as Record<string, unknown>;
  return { ...(typeof jkt === 'string' ? { jkt } : {}), ...(typeof x5t === 'string' ? { 'x5t#S256': x5t } : {}) };
}

export function createJwtAccessTokens(deps: { db: Db; verifier: AccessTokenVerifier; revocations?: RevocationMemory | undefined }) {
  // jti → what revocation needs, for tokens just found by introspection or revocation in this process.
  const recent = new Map<string, Seen>();
  // Grant, client and account state per (grant, client, subject), for a second at most: every way a token
  // of theirs stops being valid — grant revoked or deleted, client disabled or deleted, account disabled —
  // also records a revocation, which memory knows at once; this is the second line.
  const subjects = createShortLivedCache<SubjectState>();

  /** A query only when memory may be behind; otherwise none, or one per subject per second. */
  async function stateOf(token: TokenIdentity & { sub?: string | undefined }): Promise<JwtTokenState> {
    const revoked = await deps.revocations?.isRevoked(token);
    if (revoked === undefined) return jwtTokenState(deps.db, token);
    const key = `${token.grantId ?? ''}|${token.clientId}|${token.sub ?? ''}`;
    return { revoked, ...(await subjects.get(key, () => jwtSubjectState(deps.db, token))) };
  }

  return {
    isHandle: (id: string) => id.startsWith(JWT_HANDLE_PREFIX),

    async find(model: string, handle: string): Promise<Payload | undefined> {
      if (model !== 'AccessToken' && model !== 'ClientCredentials') return undefined;
      // Verified once per process and remembered (access-token-verifier.ts), so asking first is cheap.
      const claims = await deps.verifier.verify(handle.slice(JWT_HANDLE_PREFIX.length));
      if (!claims) return undefined;
      // Tokens issued from a grant (a person's consent) carry `gid`; client_credentials tokens do not.
      const fromGrant = typeof claims.gid === 'string';
      if ((model === 'AccessToken') !== fromGrant) return undefined;
      const { iss: _iss, sub, aud, exp, iat, nbf: _nbf, jti, client_id: clientId, scope, gid, cnf, ...extra } = claims;
      const state = await stateOf({ jti, grantId: gid, clientId, sub: fromGrant ? sub : undefined, issuedAt: iat! });
      // A client ID metadata document's client has no row to disable (operators deny-list its host instead).
      const clientEnabled = state.clientEnabled || isDocumentClientId(clientId);
      if (state.revoked || !state.grantExists || !clientEnabled || !state.accountEnabled) return undefined;

      const audiences = Array.isArray(aud) ? aud : aud ? [aud] : [];
      if (recent.size >= RECENT_LIMIT) recent.delete(recent.keys().next().value!);
      recent.set(jti, { exp: exp!, audiences, clientId, sub });

      // A client_credentials JWT's `sub` is its client (RFC 9068 §2.2): introspection answers with the same
      // `sub` (the engine only sets one for a person), which resource servers such as mod_oauth2 require.
      const payload: Payload = { kind: model, jti, iat, exp, clientId, aud, scope, ...senderConstraint(cnf), extra: { ...extra, ...(gid ? { gid } : { sub }) } };
      if (fromGrant) Object.assign(payload, { accountId: sub, grantId: gid, extra: { ...(payload.extra as object), ...(state.username ? { username: state.username } : {}) } });
      return payload;
    },

    /** Records a JWT access token found moments ago as revoked until it expires; false if it is not one. */
    async revoke(jti: string): Promise<boolean> {
      const seen = recent.get(jti);
      if (!seen) return false;
      recent.delete(jti);
      await deps.db.transaction((trx) =>
        recordRevocations(trx as unknown as Db, [
          {
            kind: 'jti',
            value: jti,
            reason: 'token_revoked',
            coverUntil: new Date(seen.exp * 1000),
            event: { type: 'token-revoked', jti, clientId: seen.clientId, sub: seen.sub, audiences: seen.audiences.length ? seen.audiences : null },
          },
        ]),
      );
      return true;
    },
  };
}

export type JwtAccessTokens = ReturnType<typeof createJwtAccessTokens>;
