// findAccount: the engine asks for an account by `sub`; claims are filtered by the engine per scope.
import type { Account, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { findAccountById } from '../store/accounts.ts';
import type { EngineCaches } from './engine-caches.ts';

/** Accounts are read on every refresh and userinfo call: through the cache dropped on every change. */
export function createFindAccount(db: Db, accounts: EngineCaches['accounts']): FindAccount {
  return async (_ctx, sub): Promise<Account | undefined> => {
    const account = await accounts.get(sub, () => findAccountById(db, sub));
    if (!account || account.disabled) return undefined;
    return {
      accountId: account.id,
      async claims() {
        return {
          sub: account.id,
          preferred_username: account.username,
          ...(account.name ? { name: account.name } : {}),
          ...(account.email ? { email: account.email, email_verified: account.emailVerified } : {}),
          roles: account.roles,
          groups: account.groups,
        };
      },
    };
  };
}

/**
 * Roles and groups in access tokens (JWT or introspection) when the `roles` scope was granted, so resource
 * servers can check them without a userinfo call. Setting: ROLES_IN_TOKENS.
 */
export function createExtraTokenClaims(db: Db, enabled: boolean) {
  return async (ctx: KoaContextWithOIDC, token: { kind?: string; accountId?: string; clientId?: string; scope?: string; grantId?: string }) => {
    // `gid` lets a resource server match the token against revoked grants from the revocation feed.
    const grant = token.grantId ? { gid: token.grantId } : {};
    // A client's own token names the client as its subject: a JWT says so (RFC 9068 §2.2), and this makes
    // introspection of an opaque one say the same (resource servers such as mod_oauth2 require `sub`).
    const client = token.kind === 'ClientCredentials' && token.clientId ? { sub: token.clientId } : {};
    const roles = await rolesFor(ctx, token);
    return token.grantId || roles || 'sub' in client ? { ...grant, ...client, ...roles } : undefined;
  };

  async function rolesFor(ctx: KoaContextWithOIDC, token: { accountId?: string; scope?: string }) {
    if (!enabled || !token.accountId) return undefined;
    // Resource-bound tokens carry only resource scopes; `roles` (an OpenID scope) is then on the grant.
    const grant = ctx.oidc.entities.Grant as { getOIDCScope?: () => string } | undefined;
    const granted = `${token.scope ?? ''} ${grant?.getOIDCScope?.() ?? ''}`.split(' ');
    if (!granted.includes('roles')) return undefined;
    const account = await findAccountById(db, token.accountId);
    return account ? { roles: account.roles, groups: account.groups } : undefined;
  }
}
