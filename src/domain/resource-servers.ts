// Resource servers: the APIs that accept our access tokens (RFC 8707 audiences). Each defines its scopes,
// the format and lifetime of its access tokens, and has its own confidential client with which it calls
// introspection and follows the revocation feed — and through which it only ever sees its own tokens.
import type { Db } from '../store/db.ts';
import {
  deleteResourceServer,
  findResourceServer,
  insertResourceServer,
  listResourceServers,
  listResourceServersPage,
  updateResourceServer,
  type ResourceServerRow,
  type ScopeDefinition,
} from '../store/resource-servers.ts';
import { listClients } from '../store/clients.ts';
import { Conflict, NotFound, ValidationError } from '../errors.ts';
import { createClient, type ClientMetadata } from './clients.ts';
import type { SecretBox } from './secret-box.ts';
import { SIGNING_ALGORITHMS } from './keys.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { FEED_SCOPE, isPrivilegedScope } from './scope-privileges.ts';
import { SCOPE_TOKEN } from './wire-syntax.ts';

export const INTROSPECTS_PROPERTY = 'tessera_introspects';
export { FEED_SCOPE } from './scope-privileges.ts';

export interface ResourceServerInput {
  identifier: string;
  name?: string | undefined;
  scopes?: ScopeDefinition[] | undefined;
  format?: string | undefined;
  ttl?: number | undefined;
  alg?: string | undefined;
}

const RESERVED_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email', 'roles']);

function validate(input: ResourceServerInput, existing?: ResourceServerRow): Omit<ResourceServerRow, 'createdAt'> {
  let url: URL;
  try {
    url = new URL(input.identifier);
  } catch {
    throw new ValidationError('identifier must be an absolute URI (RFC 8707 §2)');
  }
  if (url.hash) throw new ValidationError('identifier must not contain a fragment (RFC 8707 §2)');
  if (input.identifier.length > 2048) throw new ValidationError('identifier is too long');
  const scopes = input.scopes ?? existing?.scopes ?? [];
  for (const s of scopes) {
    if (!SCOPE_TOKEN.test(s.name)) throw new ValidationError(`scope "${s.name}" is not a valid scope token (RFC 6749 §3.3)`);
    if (RESERVED_SCOPES.has(s.name)) throw new ValidationError(`scope "${s.name}" is an OpenID Connect scope and cannot belong to an API`);
    if (isPrivilegedScope(s.name)) throw new ValidationError(`scope "${s.name}" is reserved for Tessera's admin API and revocation feed`);
    if (s.description && s.description.length > 200) throw new ValidationError(`description of "${s.name}" is longer than 200 characters`);
  }
  const format = input.format ?? existing?.accessTokenFormat ?? 'jwt';
  if (format !== 'jwt' && format !== 'opaque') throw new ValidationError('format must be jwt or opaque');
  const ttl = input.ttl ?? existing?.accessTokenTtl ?? 600;
  if (!Number.isInteger(ttl) || ttl < 30 || ttl > 86400) throw new ValidationError('ttl must be 30-86400 seconds (short-lived access tokens, RFC 9700 §2.2)');
  const alg = input.alg ?? existing?.signingAlg ?? 'ES256';
  if (!(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) throw new ValidationError(`alg must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
  const name = (input.name ?? existing?.name ?? url.host).trim();
  if (!name || name.length > 200) throw new ValidationError('name must be 1-200 characters');
  return { identifier: input.identifier, name, scopes, accessTokenFormat: format, accessTokenTtl: ttl, signingAlg: alg };
}

/** Registers the API and its introspection client; the client's secret is returned this once. */
export async function createResourceServer(db: Db, box: SecretBox, input: ResourceServerInput): Promise<{ resource: ResourceServerRow; introspectionClient: ClientMetadata }> {
  const row = validate(input);
  if (!(await insertResourceServer(db, row))) throw new Conflict(`resource server "${row.identifier}" already exists`);
  const introspectionClient = await createClient(db, box, {
    name: `${row.name} (resource server)`,
    grantTypes: ['client_credentials'],
    scope: FEED_SCOPE,
    introspects: row.identifier,
  });
  await insertAuditEvent(db, { type: 'resource_server.created', details: { identifier: row.identifier } });
  return { resource: (await findResourceServer(db, row.identifier))!, introspectionClient };
}

export async function updateResource(db: Db, input: ResourceServerInput): Promise<ResourceServerRow> {
  const existing = await findResourceServer(db, input.identifier);
  if (!existing) throw new NotFound(`no resource server "${input.identifier}"`);
  await updateResourceServer(db, validate(input, existing));
  await insertAuditEvent(db, { type: 'resource_server.updated', details: { identifier: input.identifier } });
  return (await findResourceServer(db, input.identifier))!;
}

/** Deletes the API; its introspection clients are disabled by the caller (they revoke tokens). */
export async function removeResourceServer(db: Db, identifier: string): Promise<{ introspectionClientIds: string[] }> {
  if (!(await deleteResourceServer(db, identifier))) throw new NotFound(`no resource server "${identifier}"`);
  await insertAuditEvent(db, { type: 'resource_server.deleted', details: { identifier } });
  const clients = await listClients(db);
  return { introspectionClientIds: clients.filter((c) => c.metadata[INTROSPECTS_PROPERTY] === identifier).map((c) => c.id) };
}

export async function requireResourceServer(db: Db, identifier: string): Promise<ResourceServerRow> {
  const found = await findResourceServer(db, identifier);
  if (!found) throw new NotFound(`no resource server "${identifier}"`);
  return found;
}

export { listResourceServers, listResourceServersPage, findResourceServer };

export function publicResourceServer(r: ResourceServerRow) {
  return {
    identifier: r.identifier,
    name: r.name,
    scopes: r.scopes,
    format: r.accessTokenFormat,
    ttl: r.accessTokenTtl,
    alg: r.signingAlg,
    created_at: r.createdAt.toISOString(),
  };
}
