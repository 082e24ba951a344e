// Federated sign-in: what happens when a person comes back from an upstream identity provider. The linked
// account is found by the upstream's stable subject — never by email — or, per the provider's policy, an
// account is created (just-in-time, with mapped claims and default roles) or the person links an existing
// account by entering its password. Upstream tokens never leave this module's caller: downstream apps get
// Tessera's own. The providers' configuration is upstreams.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../store/db.ts';
import { deleteIdentity, findIdentity, insertIdentity, listIdentitiesOfAccount, listUpstreams, touchIdentity, type UpstreamRow } from '../store/upstreams.ts';
import { deleteAccountRow, findAccountById, insertAccount, updateAccount, updateAccountProfile, type AccountRow } from '../store/accounts.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { Conflict, NotFound } from '../errors.ts';
import { NO_PASSWORD, type PasswordHasher } from './password.ts';
import { authenticate } from './accounts.ts';
import { normalizeUsername } from './usernames.ts';
import type { MAPPABLE } from './upstreams.ts';

/** What an upstream told us about the person, after its ID token (or user API) was verified. */
export interface UpstreamProfile {
  subject: string;
  /** Raw claims, for the mapping. */
  claims: Record<string, unknown>;
  email: string | undefined;
  /** Only when the upstream says so (`email_verified: true`, or GitHub's verified primary address). */
  emailVerified: boolean;
}

export type UpstreamLoginResult =
  | { kind: 'signed-in'; account: AccountRow; created: boolean }
  | { kind: 'link-needed'; suggestedUsername: string | undefined }
  | { kind: 'disabled' };

const mapped = (upstream: UpstreamRow, profile: UpstreamProfile, field: (typeof MAPPABLE)[number]) => {
  const value = profile.claims[upstream.claimMapping[field] ?? field];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
};

function usernameBase(upstream: UpstreamRow, profile: UpstreamProfile): string {
  const wanted = mapped(upstream, profile, 'username')?.normalize('NFKC').replace(/[^A-Za-z0-9._@-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100);
  return wanted || `${upstream.id}-${profile.subject.replace(/[^A-Za-z0-9]/g, '').slice(0, 20) || randomBytes(4).toString('hex')}`;
}

async function createFromProfile(db: Db, upstream: UpstreamRow, profile: UpstreamProfile): Promise<AccountRow> {
  const base = usernameBase(upstream, profile);
  // The address comes from the mapped claim (`email` unless the operator chose another one).
  const wanted = mapped(upstream, profile, 'email');
  const email = wanted && /^[^\s@]{1,64}@[^\s@]{1,255}$/.test(wanted) ? wanted : null;
  const name = mapped(upstream, profile, 'name')?.slice(0, 200) ?? null;
  for (let attempt = 0; attempt < 20; attempt++) {
    const username = attempt === 0 ? base : attempt < 10 ? `${base}-${attempt + 1}` : `${base}-${randomBytes(3).toString('hex')}`;
    const id = randomUUID();
    const result = await insertAccount(db, { id, username, usernameKey: normalizeUsername(username), email, name, passwordHash: NO_PASSWORD });
    if (!result.ok) continue;
    // An email counts as verified only when the upstream vouches for that very address (its verified email).
    await updateAccountProfile(db, id, { emailVerified: Boolean(email && profile.emailVerified && email === profile.email) });
    if (upstream.defaultRoles.length) await updateAccount(db, id, { roles: [...upstream.defaultRoles].sort() });
    return (await findAccountById(db, id))!;
  }
  throw new Conflict('could not find a free username for this person');
}

/**
 * The person came back from `upstream` as `profile`. Their linked account signs in; without one, the
 * provider's policy decides: `jit` creates an account, `link` asks for an existing account's password.
 */
export async function resolveUpstreamLogin(db: Db, upstream: UpstreamRow, profile: UpstreamProfile): Promise<UpstreamLoginResult> {
  const identity = await findIdentity(db, upstream.id, profile.subject);
  if (identity) {
    const account = await findAccountById(db, identity.accountId);
    if (!account || account.disabled) return { kind: 'disabled' };
    await touchIdentity(db, upstream.id, profile.subject);
    return { kind: 'signed-in', account, created: false };
  }
  if (upstream.provisioning === 'link') return { kind: 'link-needed', suggestedUsername: mapped(upstream, profile, 'username') };
  const account = await createFromProfile(db, upstream, profile);
  if (!(await insertIdentity(db, { upstreamId: upstream.id, subject: profile.subject, accountId: account.id, email: profile.email ?? null }))) {
    // The same person finished twice at once: keep the first link, drop the account made here.
    const winner = (await findIdentity(db, upstream.id, profile.subject))!;
    await deleteAccountRow(db, account.id);
    return { kind: 'signed-in', account: (await findAccountById(db, winner.accountId))!, created: false };
  }
  await insertAuditEvent(db, { type: 'identity.linked', accountId: account.id, details: { upstream: upstream.id, provisioned: true } });
  return { kind: 'signed-in', account, created: true };
}

export type LinkResult = { ok: true; account: AccountRow } | { ok: false; reason: 'invalid_credentials' | 'disabled' | 'already_linked' };

/** Links the upstream identity to an existing account once that account's password is given. */
export async function linkWithPassword(
  db: Db,
  hasher: PasswordHasher,
  upstream: UpstreamRow,
  profile: Pick<UpstreamProfile, 'subject' | 'email'>,
  username: string,
  password: string,
): Promise<LinkResult> {
  const result = await authenticate(db, hasher, username, password);
  if (!result.ok) return result;
  if (!(await insertIdentity(db, { upstreamId: upstream.id, subject: profile.subject, accountId: result.account.id, email: profile.email ?? null }))) {
    return { ok: false, reason: 'already_linked' };
  }
  await insertAuditEvent(db, { type: 'identity.linked', accountId: result.account.id, details: { upstream: upstream.id, provisioned: false } });
  return { ok: true, account: result.account };
}

/** The identities a person sees on the account page, with the provider's display name. */
export async function identitiesOf(db: Db, accountId: string) {
  const upstreams = new Map((await listUpstreams(db)).map((u) => [u.id, u]));
  return (await listIdentitiesOfAccount(db, accountId)).map((i) => ({
    upstreamId: i.upstreamId,
    subject: i.subject,
    provider: upstreams.get(i.upstreamId)?.displayName ?? i.upstreamId,
    email: i.email,
    linkedAt: i.linkedAt,
  }));
}

/** Unlinks one identity, unless it is the person's last way to sign in (no password, no other identity). */
export async function unlinkIdentity(db: Db, accountId: string, upstreamId: string, subject: string): Promise<void> {
  const account = await findAccountById(db, accountId);
  if (!account) throw new NotFound('no such account');
  const identities = await listIdentitiesOfAccount(db, accountId);
  if (!identities.some((i) => i.upstreamId === upstreamId && i.subject === subject)) throw new NotFound('no such linked identity');
  if (account.passwordHash === NO_PASSWORD && identities.length === 1) {
    throw new Conflict('this is your only way to sign in, so it stays linked: link another account first, or ask an administrator to set a password for you');
  }
  await deleteIdentity(db, accountId, upstreamId, subject);
  await insertAuditEvent(db, { type: 'identity.unlinked', accountId, details: { upstream: upstreamId } });
}

