// Upstream identity providers: their configuration rules (presets for Google and GitHub, any OpenID Connect
// provider by issuer), and what happens when a person comes back from one: the linked account is found by
// the upstream's stable subject — never by email — or, per the provider's policy, an account is created
// (just-in-time, with mapped claims and default roles) or the person links an existing account by entering
// its password. Upstream tokens never leave this module's caller: downstream apps get Tessera's own.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../store/db.ts';
import {
  deleteIdentity,
  deleteUpstream,
  findIdentity,
  findUpstream,
  insertIdentity,
  insertUpstream,
  listIdentitiesOfAccount,
  listUpstreams,
  touchIdentity,
  updateUpstream,
  type Provisioning,
  type UpstreamKind,
  type UpstreamRow,
} from '../store/upstreams.ts';

export type { UpstreamRow };
import { deleteAccountRow, findAccountById, insertAccount, updateAccount, updateAccountProfile, type AccountRow } from '../store/accounts.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { Conflict, NotFound, ValidationError } from '../errors.ts';
import type { SecretBox } from './secret-box.ts';
import { NO_PASSWORD, type PasswordHasher } from './password.ts';
import { authenticate, findAccountByUsername } from './accounts.ts';
import { normalizeUsername } from './usernames.ts';
import { isLoopbackHostname, isScopeToken } from './wire-syntax.ts';

export { NO_PASSWORD };

export const UPSTREAM_KINDS = ['oidc', 'google', 'github'] as const;
export const PROVISIONING = ['jit', 'link'] as const;

interface Preset {
  issuer: string | null;
  scopes: string;
  claimMapping: Record<string, string>;
}

/** GitHub is plain OAuth 2: its profile comes from its user API (upstream/github.ts), not an ID token. */
export const PRESETS: Record<UpstreamKind, Preset> = {
  oidc: { issuer: null, scopes: 'openid email profile', claimMapping: { username: 'preferred_username', email: 'email', name: 'name' } },
  google: { issuer: 'https://accounts.google.com', scopes: 'openid email profile', claimMapping: { username: 'email', email: 'email', name: 'name' } },
  github: { issuer: null, scopes: 'read:user user:email', claimMapping: { username: 'login', email: 'email', name: 'name' } },
};

const upstreamSecretContext = (id: string) => `upstream_secret:${id}`;
const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const ROLE = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/;
const MAPPABLE = ['username', 'email', 'name'] as const;

export interface UpstreamInput {
  id: string;
  kind?: UpstreamKind | undefined;
  displayName?: string | undefined;
  issuer?: string | undefined;
  clientId?: string | undefined;
  /** Write-only: never shown again. */
  clientSecret?: string | undefined;
  scopes?: string | undefined;
  claimMapping?: Record<string, string> | undefined;
  provisioning?: Provisioning | undefined;
  defaultRoles?: string[] | undefined;
  enabled?: boolean | undefined;
}

export interface UpstreamRules {
  /** Development and tests only: allow an http issuer on a loopback address. */
  allowHttpIssuer: boolean;
}

function checkIssuer(issuer: string, rules: UpstreamRules): void {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new ValidationError('issuer must be an absolute URL');
  }
  const loopback = isLoopbackHostname(url.hostname);
  if (url.protocol !== 'https:' && !(rules.allowHttpIssuer && url.protocol === 'http:' && loopback)) throw new ValidationError('issuer must use https');
  if (url.search || url.hash) throw new ValidationError('issuer must not have a query or fragment');
}

function build(box: SecretBox, rules: UpstreamRules, input: UpstreamInput, existing?: UpstreamRow): Omit<UpstreamRow, 'createdAt'> {
  if (!ID.test(input.id)) throw new ValidationError('id must be 1-63 characters: lower-case letters, digits and - (it appears in the callback URL)');
  const kind = input.kind ?? existing?.kind ?? 'oidc';
  if (!(UPSTREAM_KINDS as readonly string[]).includes(kind)) throw new ValidationError(`kind must be one of ${UPSTREAM_KINDS.join(', ')}`);
  if (existing && kind !== existing.kind) throw new ValidationError('kind cannot change; create another upstream');
  const preset = PRESETS[kind];
  const issuer = kind === 'oidc' ? (input.issuer ?? existing?.issuer ?? null) : preset.issuer;
  if (kind === 'oidc') {
    if (!issuer) throw new ValidationError('an OpenID Connect upstream needs its issuer');
    checkIssuer(issuer, rules);
  } else if (input.issuer !== undefined && input.issuer !== preset.issuer) {
    throw new ValidationError(`the ${kind} preset has a fixed issuer`);
  }
  const clientId = input.clientId ?? existing?.clientId;
  if (!clientId || clientId.length > 512) throw new ValidationError('client id is required (at most 512 characters)');
  const secret = input.clientSecret;
  if (secret !== undefined && (secret.length === 0 || secret.length > 1024)) throw new ValidationError('client secret must be 1-1024 characters');
  const displayName = (input.displayName ?? existing?.displayName ?? input.id).trim();
  if (!displayName || displayName.length > 100) throw new ValidationError('display name must be 1-100 characters');
  const scopes = (input.scopes ?? existing?.scopes ?? preset.scopes).trim().split(/\s+/).filter(Boolean);
  if (scopes.length > 30 || scopes.some((s) => !isScopeToken(s))) throw new ValidationError('scopes must be up to 30 scope tokens');
  if (kind !== 'github' && !scopes.includes('openid')) throw new ValidationError('an OpenID Connect upstream needs the openid scope');
  const claimMapping = { ...preset.claimMapping, ...(existing?.claimMapping ?? {}), ...(input.claimMapping ?? {}) };
  for (const [field, claim] of Object.entries(claimMapping)) {
    if (!(MAPPABLE as readonly string[]).includes(field)) throw new ValidationError(`claim mapping: "${field}" is not a local field (${MAPPABLE.join(', ')})`);
    if (typeof claim !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(claim)) throw new ValidationError(`claim mapping: "${field}" must name a claim`);
  }
  const provisioning = input.provisioning ?? existing?.provisioning ?? 'jit';
  if (!(PROVISIONING as readonly string[]).includes(provisioning)) throw new ValidationError(`provisioning must be one of ${PROVISIONING.join(', ')}`);
  const defaultRoles = input.defaultRoles ?? existing?.defaultRoles ?? [];
  for (const role of defaultRoles) if (!ROLE.test(role)) throw new ValidationError(`role "${role}" must be 1-64 characters: letters, digits, : . _ -`);
  const clientSecretSealed = secret !== undefined ? box.seal(secret, upstreamSecretContext(input.id)) : (existing?.clientSecretSealed ?? null);
  if (!clientSecretSealed) throw new ValidationError('client secret is required');
  return {
    id: input.id,
    kind,
    displayName,
    issuer,
    clientId,
    clientSecretSealed,
    scopes: scopes.join(' '),
    claimMapping,
    provisioning,
    defaultRoles,
    enabled: input.enabled ?? existing?.enabled ?? true,
  };
}

/** As shown to operators: never the client secret. */
/** An upstream offered for sign-in: it exists and is enabled. Ids outside the upstream id format find nothing. */
export async function findEnabledUpstream(db: Db, id: string): Promise<UpstreamRow | undefined> {
  const upstream = /^[a-z0-9-]{1,63}$/.test(id) ? await findUpstream(db, id) : undefined;
  return upstream?.enabled ? upstream : undefined;
}

export function publicUpstream(u: UpstreamRow) {
  return {
    id: u.id,
    kind: u.kind,
    display_name: u.displayName,
    issuer: u.issuer,
    client_id: u.clientId,
    scopes: u.scopes,
    claim_mapping: u.claimMapping,
    provisioning: u.provisioning,
    default_roles: u.defaultRoles,
    enabled: u.enabled,
    created_at: u.createdAt.toISOString(),
  };
}

export async function createUpstream(db: Db, box: SecretBox, rules: UpstreamRules, input: UpstreamInput): Promise<UpstreamRow> {
  const row = build(box, rules, input);
  if (!(await insertUpstream(db, row))) throw new Conflict(`upstream "${input.id}" already exists`);
  await insertAuditEvent(db, { type: 'upstream.created', details: { id: row.id, kind: row.kind } });
  return (await findUpstream(db, row.id))!;
}

export async function requireUpstream(db: Db, id: string): Promise<UpstreamRow> {
  const found = await findUpstream(db, id);
  if (!found) throw new NotFound(`no upstream "${id}"`);
  return found;
}

export async function changeUpstream(db: Db, box: SecretBox, rules: UpstreamRules, input: UpstreamInput): Promise<UpstreamRow> {
  const existing = await requireUpstream(db, input.id);
  await updateUpstream(db, build(box, rules, input, existing));
  await insertAuditEvent(db, { type: 'upstream.updated', details: { id: input.id } });
  return (await findUpstream(db, input.id))!;
}

/** Deleting an upstream unlinks every identity from it (accounts stay). */
export async function removeUpstream(db: Db, id: string): Promise<void> {
  if (!(await deleteUpstream(db, id))) throw new NotFound(`no upstream "${id}"`);
  await insertAuditEvent(db, { type: 'upstream.deleted', details: { id } });
}

export { listUpstreams };

export function upstreamClientSecret(box: SecretBox, upstream: UpstreamRow): string {
  return box.open(upstream.clientSecretSealed!, upstreamSecretContext(upstream.id));
}

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

export { findAccountByUsername };
