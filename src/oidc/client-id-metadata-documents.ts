// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client whose client_id is
// an https URL, resolved by fetching that URL's JSON metadata. The engine does the protocol part
// (oidc-provider `features.clientIdMetadataDocument`, lib/helpers/client_id_metadata_document.js): the URL's
// shape, the fetch with `redirect: 'manual'` (a redirect is a non-200 answer, refused), client_id equal to
// the URL, no shared-secret authentication, https-only web URIs, `redirect_uris` required, the cache
// honouring Cache-Control within `cacheDuration`. Its fetch goes through our `fetch` hook with the engine's
// guard against special-use addresses (outbound.ts; connected address checked after DNS resolution), the
// 2.5 s timeout of its fetch helper and the 5 KiB body limit of provider.ts (`fetchResponseBodyLimits`).
//
// Tessera's policy on top, because anyone on the internet can now be a client:
// - off unless CLIENT_ID_METADATA_DOCUMENTS is on; operators may allow- and deny-list hosts;
// - the URL needs a path; a URL naming a private host outright is refused unless the registration fetch
//   switch is on (the guard would stop it anyway, less clearly);
// - a per-host fetch budget and negative caching (a document that failed is not fetched again for a while);
// - such a client is an unverified third party: no tessera_* property (first-party consent skipping, API
//   scopes as the engine holds them, introspection rights, default resource), no privileged scope, only
//   the API scopes the operator opened to such clients (CLIENT_ID_METADATA_DOCUMENT_SCOPES), only the
//   authorization_code and refresh_token grants, no back-channel logout URI (a POST the logout switch may
//   let reach private networks), public or private_key_jwt clients only.
// The pages show such a client as "unverified app from <host>" (http/interactions.ts).
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Config } from '../config.ts';
import { createFailureMemory, createHostFetchBudget, documentUrlOf, hostRefusal } from '../domain/client-id-metadata-documents.ts';
import { privilegedScopes } from '../domain/scope-privileges.ts';
import { checkClientMetadata } from '../domain/client-metadata.ts';
import { namesPrivateHost } from './outbound.ts';
import { RESOURCE_SCOPES_PROPERTY, splitRegisteredScope } from './scopes.ts';

/** The version of the draft the engine implements (its experimental feature must be acknowledged). */
const DRAFT = 'draft-02';
/** How long a document that could not be used is answered from memory (the engine's shortest cache time). */
const NEGATIVE_CACHE_SECONDS = 30;
/** Cache-Control is honoured within these bounds (seconds). */
const CACHE_DURATION = { min: 30, max: 24 * 3600 };
const GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);
const AUTH_METHODS = new Set(['none', 'private_key_jwt']);
const SECRET_AUTH_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);
const REGISTRANT_ROUTES = new Set(['registration', 'client_update']);

type Validator = NonNullable<NonNullable<Configuration['extraClientMetadata']>['validator']>;
type FeatureConfig = NonNullable<NonNullable<Configuration['features']>['clientIdMetadataDocument']>;
type ClientClass = Provider['Client'] & { find(id: string): Promise<InstanceType<Provider['Client']> | undefined> };

export interface ClientIdMetadataDocuments {
  /** `features.clientIdMetadataDocument` of the engine configuration. */
  feature: FeatureConfig;
  /** Wraps extraClientMetadata.validator: the policy for clients built from a fetched document. */
  guardMetadata(validator: Validator, firstProperty: string): Validator;
  /** Negative caching around the engine's Client.find. */
  install(provider: Provider): void;
}

type Settings = Pick<Config, 'clientIdMetadataDocuments' | 'registrationFetchAllowPrivate'>;

export function createClientIdMetadataDocuments(config: Settings): ClientIdMetadataDocuments {
  const settings = config.clientIdMetadataDocuments;
  const takeFetch = createHostFetchBudget(settings.fetchesPerHostPerMinute);
  const failures = createFailureMemory<{ error: string; description: string }>(NEGATIVE_CACHE_SECONDS);
  const openScopes = new Set(settings.scopes);

  // Called by the engine only when it is about to fetch (no cached document for this client_id).
  async function allowFetch(_ctx: KoaContextWithOIDC, clientId: string): Promise<boolean> {
    const url = documentUrlOf(clientId);
    if (!url) return false;
    if (url.pathname === '/' || url.pathname === '') throw new errors.InvalidClient('a client_id metadata document URL must have a path');
    const refusal = hostRefusal(url.hostname, settings);
    if (refusal) throw new errors.InvalidClient(refusal);
    const privateHost = config.registrationFetchAllowPrivate ? undefined : namesPrivateHost(clientId);
    if (privateHost) throw new errors.InvalidClient(`client_id metadata documents are not fetched from private network addresses (${privateHost})`);
    const waitSeconds = takeFetch(url.hostname);
    if (waitSeconds) throw new errors.InvalidClient(`too many client_id metadata document fetches from ${url.hostname}; try again in ${waitSeconds} s`);
    return true;
  }

  const feature: FeatureConfig = {
    enabled: settings.enabled,
    ack: DRAFT,
    allowFetch,
    // The document's metadata is checked as the client is built (guardMetadata); nothing more to decide here.
    allowClient: async () => true,
    cacheDuration: CACHE_DURATION,
  } as FeatureConfig;

  /** The policy, applied to the metadata the engine is building from a fetched document. */
  function checkDocumentMetadata(metadata: Record<string, unknown>): void {
    const owned = Object.keys(metadata).find((key) => key.startsWith('tessera_') && metadata[key] !== undefined);
    if (owned) throw new errors.InvalidClientMetadata(`client_id metadata document must not set ${owned}: it is set by the server's operators`);
    // The rules every stored client meets (redirect URI schemes, display URIs, sizes, grant/response types).
    const problem = checkClientMetadata(metadata);
    if (problem) throw new errors.InvalidClientMetadata(problem.code === 'invalid_redirect_uri' ? `redirect_uris: ${problem.description}` : problem.description);
    // The engine refused a document naming a shared-secret method; one here is the server's default, which
    // a client without a secret cannot use: such a client authenticates with nothing but PKCE.
    if (typeof metadata.token_endpoint_auth_method !== 'string' || SECRET_AUTH_METHODS.has(metadata.token_endpoint_auth_method)) {
      metadata.token_endpoint_auth_method = 'none';
    }
    if (!AUTH_METHODS.has(metadata.token_endpoint_auth_method as string)) {
      throw new errors.InvalidClientMetadata('client_id metadata document token_endpoint_auth_method must be none or private_key_jwt');
    }
    const grantTypes = Array.isArray(metadata.grant_types) ? (metadata.grant_types as unknown[]) : [];
    const unsupported = grantTypes.filter((g) => typeof g !== 'string' || !GRANT_TYPES.has(g));
    if (unsupported.length) throw new errors.InvalidClientMetadata(`client_id metadata document grant_types may only be authorization_code and refresh_token`);
    if (metadata.backchannel_logout_uri !== undefined) throw new errors.InvalidClientMetadata('client_id metadata document must not set backchannel_logout_uri');
    if (!config.registrationFetchAllowPrivate && typeof metadata.jwks_uri === 'string' && namesPrivateHost(metadata.jwks_uri)) {
      throw new errors.InvalidClientMetadata('client_id metadata document jwks_uri must not point at a private network address');
    }

    // `scope` holds OpenID Connect and API scopes alike; the engine keeps the two apart (scopes.ts).
    const { oidc, resource } = splitRegisteredScope(metadata.scope);
    const apiScopes = resource?.split(' ') ?? [];
    const privileged = privilegedScopes(apiScopes);
    if (privileged.length) throw new errors.InvalidClientMetadata(`scope ${privileged.join(' ')} cannot be held by a client_id metadata document client`);
    // MCP clients seldom list scopes in their documents (they ask at authorization time): no `scope` means
    // every API scope the operator opened to such clients; a listed scope outside them is dropped.
    const held = metadata.scope === undefined ? [...openScopes] : apiScopes.filter((s) => openScopes.has(s));
    if (oidc === undefined) delete metadata.scope;
    else metadata.scope = oidc;
    if (held.length) metadata[RESOURCE_SCOPES_PROPERTY] = held.join(' ');
    else delete metadata[RESOURCE_SCOPES_PROPERTY];
  }

  function guardMetadata(validator: Validator, firstProperty: string): Validator {
    if (!settings.enabled) return validator;
    return (ctx, key, value, metadata) => {
      // The engine builds a document's client without a request context of its own (add_client.js); client
      // ids of stored clients are generated, never https URLs, so an https client_id is a document's.
      const fromDocument = documentUrlOf(metadata.client_id) !== undefined && !REGISTRANT_ROUTES.has(ctx?.oidc?.route ?? '');
      if (!fromDocument) return validator(ctx, key, value, metadata);
      if (key === firstProperty) checkDocumentMetadata(metadata as Record<string, unknown>);
    };
  }

  function install(provider: Provider): void {
    if (!settings.enabled) return;
    const Client = provider.Client as ClientClass;
    const find = Client.find.bind(Client);
    Client.find = async (id: string) => {
      const url = documentUrlOf(id);
      if (!url) return find(id);
      const remembered = failures.recall(id);
      if (remembered) {
        throw remembered.error === 'invalid_client' ? new errors.InvalidClient(remembered.description, 'negative cache') : new errors.InvalidClientMetadata(remembered.description);
      }
      try {
        return await find(id);
      } catch (error) {
        // Only the document's own faults are remembered: not a database outage, nor the budget running out.
        const e = error as { error?: string; error_description?: string };
        const documentFault = (e.error === 'invalid_client' || e.error === 'invalid_client_metadata' || e.error === 'invalid_redirect_uri') && !e.error_description?.startsWith('too many');
        if (documentFault && e.error_description) failures.remember(id, { error: e.error!, description: e.error_description });
        throw error;
      }
    };
  }

  return { feature, guardMetadata, install };
}
