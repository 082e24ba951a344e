// Upstream identity providers and the identities linked to local accounts. The client secret arrives sealed.
import type { Db } from './db.ts';

export type UpstreamKind = 'oidc' | 'google' | 'github';
export type Provisioning = 'jit' | 'link';

export interface UpstreamRow {
  id: string;
  kind: UpstreamKind;
  displayName: string;
  /** The OpenID Connect issuer (discovery at `${issuer}/.well-known/openid-configuration`); null for GitHub. */
  issuer: string | null;
  clientId: string;
  clientSecretSealed: string | null;
  scopes: string;
  /** Local field → upstream claim, e.g. { username: 'preferred_username' }. */
  claimMapping: Record<string, string>;
  provisioning: Provisioning;
  defaultRoles: string[];
  enabled: boolean;
  createdAt: Date;
}

interface RawUpstreamRow {
  id: string;
  kind: UpstreamKind;
  display_name: string;
  issuer: string | null;
  client_id: string;
  client_secret_sealed: string | null;
  scopes: string;
  claim_mapping: Record<string, string>;
  provisioning: Provisioning;
  default_roles: string[];
  enabled: boolean;
  created_at: Date;
}

const toUpstream = (r: RawUpstreamRow): UpstreamRow => ({
  id: r.id,
  kind: r.kind,
  displayName: r.display_name,
  issuer: r.issuer,
  clientId: r.client_id,
  clientSecretSealed: r.client_secret_sealed,
  scopes: r.scopes,
  claimMapping: r.claim_mapping ?? {},
  provisioning: r.provisioning,
  defaultRoles: r.default_roles ?? [],
  enabled: r.enabled,
  createdAt: r.created_at,
});

const toRaw = (u: Omit<UpstreamRow, 'createdAt'>) => ({
  id: u.id,
  kind: u.kind,
  display_name: u.displayName,
  issuer: u.issuer,
  client_id: u.clientId,
  client_secret_sealed: u.clientSecretSealed,
  scopes: u.scopes,
  claim_mapping: JSON.stringify(u.claimMapping),
  provisioning: u.provisioning,
  default_roles: JSON.stringify(u.defaultRoles),
  enabled: u.enabled,
});

export async function listUpstreams(db: Db, options: { enabledOnly?: boolean } = {}): Promise<UpstreamRow[]> {
  const q = db<RawUpstreamRow>('upstream_providers').orderBy('created_at').orderBy('id');
  if (options.enabledOnly) q.where('enabled', true);
  return (await q).map(toUpstream);
}

export async function findUpstream(db: Db, id: string): Promise<UpstreamRow | undefined> {
  const row = await db<RawUpstreamRow>('upstream_providers').where('id', id).first();
  return row ? toUpstream(row) : undefined;
}

/** false when the id is taken. */
export async function insertUpstream(db: Db, upstream: Omit<UpstreamRow, 'createdAt'>): Promise<boolean> {
  const rows = await db('upstream_providers').insert(toRaw(upstream)).onConflict('id').ignore().returning('id');
  return rows.length > 0;
}

export async function updateUpstream(db: Db, upstream: Omit<UpstreamRow, 'createdAt'>): Promise<void> {
  await db('upstream_providers').where('id', upstream.id).update({ ...toRaw(upstream), updated_at: db.fn.now() });
}

export async function deleteUpstream(db: Db, id: string): Promise<boolean> {
  return (await db('upstream_providers').where('id', id).delete().returning('id')).length > 0;
}

export interface IdentityRow {
  upstreamId: string;
  subject: string;
  accountId: string;
  email: string | null;
  linkedAt: Date;
  lastUsedAt: Date | null;
}

const toIdentity = (r: Record<string, unknown>): IdentityRow => ({
  upstreamId: r.upstream_id as string,
  subject: r.subject as string,
  accountId: r.account_id as string,
  email: (r.email as string | null) ?? null,
  linkedAt: r.linked_at as Date,
  lastUsedAt: (r.last_used_at as Date | null) ?? null,
});

export async function findIdentity(db: Db, upstreamId: string, subject: string): Promise<IdentityRow | undefined> {
  const row = await db('account_identities').where({ upstream_id: upstreamId, subject }).first();
  return row ? toIdentity(row) : undefined;
}

export async function listIdentitiesOfAccount(db: Db, accountId: string): Promise<IdentityRow[]> {
  return (await db('account_identities').where('account_id', accountId).orderBy('linked_at')).map(toIdentity);
}

/** false when that upstream subject is already linked (to this or another account). */
export async function insertIdentity(db: Db, identity: { upstreamId: string; subject: string; accountId: string; email: string | null }): Promise<boolean> {
  const rows = await db('account_identities')
    .insert({ upstream_id: identity.upstreamId, subject: identity.subject, account_id: identity.accountId, email: identity.email, last_used_at: db.fn.now() })
    .onConflict(['upstream_id', 'subject'])
    .ignore()
    .returning('subject');
  return rows.length > 0;
}

export async function touchIdentity(db: Db, upstreamId: string, subject: string): Promise<void> {
  await db('account_identities').where({ upstream_id: upstreamId, subject }).update({ last_used_at: db.fn.now() });
}

export async function deleteIdentity(db: Db, accountId: string, upstreamId: string, subject: string): Promise<boolean> {
  return (await db('account_identities').where({ account_id: accountId, upstream_id: upstreamId, subject }).delete().returning('subject')).length > 0;
}
