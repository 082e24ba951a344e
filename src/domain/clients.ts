// Clients as stored and audited: creating, changing, disabling and deleting them, the built-in account
// client, and the operators' view. The metadata rules are client-metadata.ts; the engine validates the
// metadata again whenever it loads a client.
import type { Db } from '../store/db.ts';
import { deleteClient, findClientById, listClientsPage, setClientDisabled, upsertClient, type ClientRow } from '../store/clients.ts';
import { revokeClientAccess, secondsSinceClientRevocation } from '../store/revocations.ts';
import { Conflict, NotFound, ValidationError } from '../errors.ts';
import type { SecretBox } from './secret-box.ts';
import { clientSecretContext } from './client-secrets.ts';
import { buildClientMetadata, checkClientMetadata, type AuthMethod, type ClientMetadata, type NewClient } from './client-metadata.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { EXCHANGE_AUDIENCES_PROPERTY, IMPERSONATION_PROPERTY, exchangePolicyOf } from './token-exchange.ts';
import { clientRequiresMfa, REQUIRE_MFA_PROPERTY } from './second-factor-policy.ts';

export { clientSecretContext };

export {
  AUTH_METHODS,
  GRANT_TYPES,
  buildClientMetadata,
  checkClientMetadata,
  checkRedirectUri,
  type AuthMethod,
  type ClientMetadata,
  type MetadataProblem,
  type NewClient,
} from './client-metadata.ts';

/** Registers a client; the returned metadata carries `client_secret` — the only time it is ever shown. */
export async function createClient(db: Db, box: SecretBox, input: NewClient): Promise<ClientMetadata> {
  const { metadata, secret } = buildClientMetadata(input);
  await db.transaction(async (trx) => {
    await upsertClient(trx, {
      id: metadata.client_id,
      metadata,
      secretSealed: secret ? box.seal(secret, clientSecretContext(metadata.client_id)) : null,
    });
    await insertAuditEvent(trx, { type: 'client.created', clientId: metadata.client_id, details: { client_name: metadata.client_name } });
  });
  return secret ? { ...metadata, client_secret: secret } : metadata;
}

/** The built-in client behind the account page: public, first-party, redirecting only to our own page. */
export const ACCOUNT_CLIENT_ID = 'tessera-account';
export const accountCallbackPath = '/account/callback';

export async function ensureAccountClient(db: Db, issuer: string): Promise<void> {
  await upsertClient(db, {
    id: ACCOUNT_CLIENT_ID,
    metadata: {
      client_id: ACCOUNT_CLIENT_ID,
      client_name: 'Your account',
      redirect_uris: [`${issuer}${accountCallbackPath}`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'openid',
      tessera_first_party: true,
    },
    secretSealed: null,
  });
}

/**
 * Disabling a client (or deleting it) revokes every grant it holds and every token issued to it; the
 * revocation is visible at introspection at once and in the revocation feed.
 */
export async function disableClient(db: Db, clientId: string, revocation: { coverUntil: Date }, options: { remove?: boolean } = {}): Promise<void> {
  await db.transaction(async (trx) => {
    if (!(await findClientById(trx, clientId, { lock: true }))) throw new NotFound(`no client "${clientId}"`);
    await setClientDisabled(trx, clientId, true);
    await revokeClientAccess(trx, clientId, options.remove ? 'client_deleted' : 'client_disabled', revocation.coverUntil);
    if (options.remove) await deleteClient(trx, clientId);
    await insertAuditEvent(trx, { type: options.remove ? 'client.deleted' : 'client.disabled', clientId });
  });
}

export async function enableClient(db: Db, clientId: string): Promise<void> {
  // Tokens carry their issue time in whole seconds, and a `client` revocation covers every token issued in
  // or before its second. Enabling within that second would leave the first new tokens revoked: wait it out.
  const since = await secondsSinceClientRevocation(db, clientId);
  if (since !== undefined && since < 1.05) await new Promise((r) => setTimeout(r, Math.ceil((1.05 - since) * 1000)));
  await db.transaction(async (trx) => {
    if (!(await setClientDisabled(trx, clientId, false))) throw new NotFound(`no client "${clientId}"`);
    await insertAuditEvent(trx, { type: 'client.enabled', clientId });
  });
}

export type PublicClient = Record<string, unknown> & {
  client_id: string;
  first_party: boolean;
  default_resource: string | null;
  introspects: string | null;
  token_exchange_audiences: string[];
  token_exchange_impersonation: boolean;
  require_mfa: boolean;
  disabled: boolean;
  created_at: string;
};

/** The client as operators see it: its metadata (never a secret), our extras under wire names, its state. */
export function publicClient(row: ClientRow): PublicClient {
  const m = row.metadata;
  return {
    ...m,
    client_id: row.id,
    first_party: m.tessera_first_party === true,
    default_resource: typeof m.tessera_default_resource === 'string' ? m.tessera_default_resource : null,
    introspects: typeof m.tessera_introspects === 'string' ? m.tessera_introspects : null,
    token_exchange_audiences: [...exchangePolicyOf(m).audiences],
    token_exchange_impersonation: exchangePolicyOf(m).impersonation,
    require_mfa: clientRequiresMfa(m),
    disabled: row.disabled,
    created_at: row.createdAt.toISOString(),
  };
}

export async function requireClient(db: Db, clientId: string, options: { lock?: boolean } = {}): Promise<ClientRow> {
  const row = await findClientById(db, clientId, options);
  if (!row) throw new NotFound(`no client "${clientId}"`);
  return row;
}

export { listClientsPage };

/** The built-in account client is recreated at every start: changing it here would not last. */
export function assertNotBuiltIn(clientId: string): void {
  if (clientId === ACCOUNT_CLIENT_ID) throw new Conflict(`client "${clientId}" is built in and cannot be changed`);
}

/** A change to a client; null removes an optional field. */
export type ClientChanges = { [K in keyof Omit<NewClient, 'name' | 'introspects'>]?: NewClient[K] | null } & { name?: string };

/** Metadata that buildClientMetadata owns; anything else (e.g. set by dynamic registration) is kept. */
const BUILT_FIELDS = [
  'client_name', 'redirect_uris', 'post_logout_redirect_uris', 'grant_types', 'response_types', 'scope', 'token_endpoint_auth_method',
  'jwks_uri', 'jwks', 'logo_uri', 'policy_uri', 'tos_uri', 'client_uri', 'backchannel_logout_uri', 'backchannel_logout_session_required',
  'tessera_first_party', 'tessera_introspects', 'tessera_default_resource',
  'dpop_bound_access_tokens',
  EXCHANGE_AUDIENCES_PROPERTY, IMPERSONATION_PROPERTY,
  REQUIRE_MFA_PROPERTY,
];

function inputOf(m: Record<string, unknown>): NewClient {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    name: str(m.client_name) ?? String(m.client_id),
    redirectUris: m.redirect_uris as string[] | undefined,
    postLogoutRedirectUris: m.post_logout_redirect_uris as string[] | undefined,
    grantTypes: m.grant_types as string[] | undefined,
    scope: str(m.scope),
    authMethod: (str(m.token_endpoint_auth_method) ?? 'client_secret_basic') as AuthMethod,
    jwksUri: str(m.jwks_uri),
    jwks: m.jwks as NewClient['jwks'],
    backchannelLogoutUri: str(m.backchannel_logout_uri),
    firstParty: m.tessera_first_party === true,
    logoUri: str(m.logo_uri),
    policyUri: str(m.policy_uri),
    tosUri: str(m.tos_uri),
    clientUri: str(m.client_uri),
    introspects: str(m.tessera_introspects),
    defaultResource: str(m.tessera_default_resource),
    requireDpop: m.dpop_bound_access_tokens === true,
    tokenExchangeAudiences: exchangePolicyOf(m).audiences.slice(),
    allowImpersonation: exchangePolicyOf(m).impersonation,
    requireMfa: clientRequiresMfa(m),
  };
}

/**
 * Changes a client's metadata through the same rules as creation (buildClientMetadata, then
 * checkClientMetadata on the whole result). Its id, secret and registration-time fields stay.
 */
export async function updateClient(db: Db, clientId: string, changes: ClientChanges) {
  assertNotBuiltIn(clientId);
  // Read, change and write under the row's lock: two updates at once must not lose one.
  return db.transaction(async (trx) => {
    const row = await requireClient(trx, clientId, { lock: true });
    const input = inputOf(row.metadata);
    for (const [key, value] of Object.entries(changes)) if (value !== undefined) (input as unknown as Record<string, unknown>)[key] = value ?? undefined;
    // No scope stays no scope (creation would fill in the OpenID Connect defaults).
    input.scope ??= '';
    const hadSecret = row.secretSealed !== null;
    const needsSecret = (input.authMethod ?? 'client_secret_basic').startsWith('client_secret_');
    if (needsSecret && !hadSecret) throw new ValidationError(`client "${clientId}" has no secret, so it cannot use ${input.authMethod}; create a new client instead`);

    const { metadata: built } = buildClientMetadata(input);
    const { client_id: _id, client_id_issued_at: _issued, client_secret_expires_at: _expires, ...fields } = built;
    const kept = Object.fromEntries(Object.entries(row.metadata).filter(([key]) => !BUILT_FIELDS.includes(key)));
    const metadata: ClientMetadata = { ...kept, ...fields, client_id: clientId };
    if (row.metadata.client_name === undefined && changes.name === undefined) delete metadata.client_name;
    if (!needsSecret) delete metadata.client_secret_expires_at;
    const problem = checkClientMetadata(metadata);
    if (problem) throw new ValidationError(problem.description);
    await upsertClient(trx, { id: clientId, metadata, secretSealed: needsSecret ? row.secretSealed : null });
    await insertAuditEvent(trx, { type: 'client.updated', clientId, details: { fields: Object.keys(changes).sort() } });
    return publicClient({ ...row, metadata, secretSealed: needsSecret ? row.secretSealed : null });
  });
}
