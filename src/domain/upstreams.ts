// Upstream identity providers as operators configure them: presets for Google and GitHub, any OpenID
// Connect provider by issuer, the claim mapping and provisioning policy, the sealed client secret. What
// happens when a person comes back from one is federated-sign-in.ts.
import type { Db } from '../store/db.ts';
import { deleteUpstream, findUpstream, insertUpstream, listUpstreams, updateUpstream, type Provisioning, type UpstreamKind, type UpstreamRow } from '../store/upstreams.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { Conflict, NotFound, ValidationError } from '../errors.ts';
import type { SecretBox } from './secret-box.ts';
import { isLoopbackHostname, isScopeToken } from './wire-syntax.ts';

export type { UpstreamRow };

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
/** The local account fields an upstream's claims may fill. */
export const MAPPABLE = ['username', 'email', 'name'] as const;

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

