// findAccount: the engine asks for an account by `sub`; claims are filtered by the engine per scope.
import type { Account, FindAccount } from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { findAccountById } from '../store/accounts.ts';

export function createFindAccount(db: Db): FindAccount {
  return async (_ctx, sub): Promise<Account | undefined> => {
    const account = await findAccountById(db, sub);
    if (!account || account.disabled) return undefined;
    return {
      accountId: account.id,
      async claims() {
        return {
          sub: account.id,
          preferred_username: account.username,
          ...(account.name ? { name: account.name } : {}),
          ...(account.email ? { email: account.email, email_verified: account.emailVerified } : {}),
        };
      },
    };
  };
}
