// The account page's use cases: what a signed-in person sees of their own account and changes themselves
// (docs/architecture.md, "Consent and the account page"). Operators do the same through services/users.ts
// and the grants/sessions services; both reach the same domain rules.
import type { ServiceContext } from './context.ts';
import { findActiveAccount } from '../domain/accounts.ts';
import { appsOfAccount, removeAppOfAccount, revocationWindow } from '../domain/grants-and-sessions.ts';
import { identitiesOf, unlinkIdentity } from '../domain/federated-sign-in.ts';

export interface RequestOrigin {
  ip?: string | undefined;
  userAgent?: string | undefined;
}

/** The account a session belongs to, while it may still use it (not disabled, not deleted). */
export function signedInAccount(ctx: ServiceContext, accountId: string) {
  return findActiveAccount(ctx.runtime.db, accountId);
}

/** The apps the person has granted access to (one entry per client, scopes merged), oldest grant first. */
export async function appsOf(ctx: ServiceContext, accountId: string) {
  const apps = new Map<string, { clientId: string; name: string; scopes: Set<string>; since: Date }>();
  for (const g of await appsOfAccount(ctx.runtime.db, accountId)) {
    const app = apps.get(g.clientId) ?? { clientId: g.clientId, name: g.clientName ?? g.clientId, scopes: new Set<string>(), since: g.createdAt };
    for (const s of g.scopes) app.scopes.add(s);
    if (g.createdAt < app.since) app.since = g.createdAt;
    apps.set(g.clientId, app);
  }
  return [...apps.values()];
}

/** "Remove": revokes every grant of the person's to the app and every token issued from them, audited. */
export async function removeApp(ctx: ServiceContext, accountId: string, clientId: string, from: RequestOrigin): Promise<void> {
  const window = await revocationWindow(ctx.runtime.db, ctx.config.ttl.accessToken);
  await removeAppOfAccount(ctx.runtime.db, accountId, clientId, window, from);
}

export function linkedIdentities(ctx: ServiceContext, accountId: string) {
  return identitiesOf(ctx.runtime.db, accountId);
}

/** Refused (Conflict) when it is the person's last way to sign in. */
export function unlinkOwnIdentity(ctx: ServiceContext, accountId: string, upstreamId: string, subject: string): Promise<void> {
  return unlinkIdentity(ctx.runtime.db, accountId, upstreamId, subject);
}
