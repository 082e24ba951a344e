// Client metadata rules: the one set every path that creates or changes a client shares (the CLI, dynamic
// registration and its RFC 7592 updates through the storage adapter, the admin API), and the builder that
// turns an operator's input into RFC 7591 metadata. Pure: no database; clients.ts stores what this builds.
import { ValidationError } from '../errors.ts';
import { generateClientId, generateClientSecret } from './client-secrets.ts';
import { isLoopbackHostname, isScopeToken } from './wire-syntax.ts';
import { REQUIRE_MFA_PROPERTY } from './second-factor-policy.ts';
import { checkExchangeAudiences, EXCHANGE_AUDIENCES_PROPERTY, IMPERSONATION_PROPERTY, TOKEN_EXCHANGE_GRANT } from './token-exchange.ts';

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
/** RFC 8628: CLI tools and TVs sign people in on another device (oidc/device-flow.ts). */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT] as const;

export interface NewClient {
  name: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  grantTypes?: string[];
  scope?: string;
  authMethod?: AuthMethod;
  jwksUri?: string;
  jwks?: { keys: unknown[] };
  backchannelLogoutUri?: string;
  /** First-party apps skip the consent page. */
  firstParty?: boolean;
  logoUri?: string;
  policyUri?: string;
  tosUri?: string;
  clientUri?: string;
  /** The resource server (audience) this client introspects for and follows the revocation feed of. */
  introspects?: string;
  /** Resource used when a request names none (RFC 8707). */
  defaultResource?: string;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: no token without a DPoP proof, every one bound to its key. */
  requireDpop?: boolean;
  /** Token exchange (RFC 8693): the APIs this client may exchange tokens into (domain/token-exchange.ts). */
  tokenExchangeAudiences?: string[];
  /** Token exchange without an actor_token (the token carries no `act`). Off unless set. */
  allowImpersonation?: boolean;
  /** Everyone signing in to this client needs a second factor (tessera_require_mfa, domain/second-factor-policy.ts). */
  requireMfa?: boolean;
}

/** Pages and images shown to people: https, or http on loopback for development. Never fetched by us. */
function checkDisplayUri(field: string, value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${field} "${value}" is not an absolute URI`;
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHostname(url.hostname))) return undefined;
  return `${field} "${value}" must use https`;
}

export type ClientMetadata = Record<string, unknown> & { client_id: string; client_secret?: string };



/** RFC 9700 §2.1 / RFC 8252 §7: absolute, no fragment, https except loopback, or a private-use scheme. */
export function checkRedirectUri(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `redirect URI "${value}" is not an absolute URI`;
  }
  if (url.hash || value.includes('#')) return `redirect URI "${value}" must not contain a fragment`;
  if (['javascript:', 'data:', 'file:', 'vbscript:', 'blob:'].includes(url.protocol)) {
    return `redirect URI "${value}" uses a forbidden scheme`;
  }
  if (url.protocol === 'http:' && !isLoopbackHostname(url.hostname)) {
    return `redirect URI "${value}" must use https (plain http is allowed only for loopback addresses)`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:' && !/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) {
    return `redirect URI "${value}" must be https, loopback http, or a reverse-DNS private-use scheme (RFC 8252 §7.1)`;
  }
  return undefined;
}

const MAX_URIS = 20;
const MAX_URI_LENGTH = 2048;
const MAX_METADATA_BYTES = 16 * 1024;
const DISPLAY_URI_FIELDS = ['logo_uri', 'policy_uri', 'tos_uri', 'client_uri', 'backchannel_logout_uri'] as const;

export interface MetadataProblem {
  /** invalid_redirect_uri for redirect URIs (RFC 7591 §3.2.2), invalid_client_metadata otherwise. */
  code: 'invalid_redirect_uri' | 'invalid_client_metadata';
  description: string;
}

/**
 * The one set of rules for client metadata, whichever path writes it: the CLI, dynamic registration and
 * its RFC 7592 updates (through the storage adapter), and the admin API. The engine checks the protocol
 * rules (grant and response types agreeing, auth methods, JWKS contents) on top.
 */
export function checkClientMetadata(metadata: Record<string, unknown>): MetadataProblem | undefined {
  const bad = (description: string): MetadataProblem => ({ code: 'invalid_client_metadata', description });
  if (JSON.stringify(metadata).length > MAX_METADATA_BYTES) return bad(`client metadata must be at most ${MAX_METADATA_BYTES} bytes`);
  for (const field of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    const uris = metadata[field];
    if (uris === undefined) continue;
    if (!Array.isArray(uris) || uris.length > MAX_URIS || uris.some((u) => typeof u !== 'string' || u.length > MAX_URI_LENGTH)) {
      return bad(`${field} must be a list of at most ${MAX_URIS} URIs of at most ${MAX_URI_LENGTH} characters`);
    }
    for (const uri of uris as string[]) {
      const problem = checkRedirectUri(uri);
      if (problem) return field === 'redirect_uris' ? { code: 'invalid_redirect_uri', description: problem } : bad(problem.replace('redirect URI', 'post-logout redirect URI'));
    }
  }
  for (const field of DISPLAY_URI_FIELDS) {
    const value = metadata[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length > MAX_URI_LENGTH) return bad(`${field} must be a URI of at most ${MAX_URI_LENGTH} characters`);
    const problem = checkDisplayUri(field, value);
    if (problem) return bad(problem);
  }
  for (const field of ['jwks_uri', 'sector_identifier_uri'] as const) {
    const value = metadata[field];
    if (value === undefined) continue;
    // Fetched by the server (with the engine's guard against special-use addresses): https only.
    if (typeof value !== 'string' || value.length > MAX_URI_LENGTH || !value.startsWith('https://')) return bad(`${field} must be an https URI`);
  }
  // RFC 7591 §2.1: grant types and response types must agree.
  const grants = (metadata.grant_types as string[] | undefined) ?? ['authorization_code'];
  const responses = (metadata.response_types as string[] | undefined) ?? ['code'];
  if (responses.includes('code') !== grants.includes('authorization_code')) {
    return bad('grant_types and response_types disagree: response type "code" goes with the authorization_code grant, and only with it');
  }
  // RFC 9700 §2.5 / RFC 6749 §4.4: client_credentials is for confidential clients only. A public client
  // would get tokens without proving anything.
  if (metadata.token_endpoint_auth_method === 'none' && grants.includes('client_credentials')) {
    return bad('client_credentials needs a client that authenticates (token_endpoint_auth_method other than none)');
  }
  // RFC 8693 §5: the exchanging client authenticates; a public client could exchange any token it found.
  if (metadata.token_endpoint_auth_method === 'none' && grants.includes(TOKEN_EXCHANGE_GRANT)) {
    return bad('token exchange needs a client that authenticates (token_endpoint_auth_method other than none)');
  }
  const name = metadata.client_name;
  if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > 200)) return bad('client_name must be 1-200 characters');
  const scope = metadata.scope;
  if (scope !== undefined && (typeof scope !== 'string' || scope.length > 1024)) return bad('scope must be at most 1024 characters');
  return undefined;
}

export function buildClientMetadata(input: NewClient): { metadata: ClientMetadata; secret: string | undefined } {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new ValidationError('name must be 1-200 characters');
  const redirectUris = input.redirectUris ?? [];
  const postLogoutRedirectUris = input.postLogoutRedirectUris ?? [];
  const grantTypes = input.grantTypes?.length
    ? [...new Set(input.grantTypes)]
    : redirectUris.length
      ? ['authorization_code', 'refresh_token']
      : ['client_credentials'];
  for (const g of grantTypes) {
    if (!(GRANT_TYPES as readonly string[]).includes(g)) {
      throw new ValidationError(`grant type "${g}" is not supported (use ${GRANT_TYPES.join(', ')})`);
    }
  }
  const usesCode = grantTypes.includes('authorization_code');
  if (usesCode && redirectUris.length === 0) throw new ValidationError('authorization_code requires at least one redirect URI');
  const authMethod: AuthMethod = input.authMethod ?? 'client_secret_basic';
  if (!(AUTH_METHODS as readonly string[]).includes(authMethod)) {
    throw new ValidationError(`auth method must be one of ${AUTH_METHODS.join(', ')}`);
  }
  if (authMethod === 'private_key_jwt' && !input.jwksUri && !input.jwks) {
    throw new ValidationError('private_key_jwt needs a jwks_uri or jwks (its public keys)');
  }
  // A person signs in (code or device flow): the OpenID Connect scopes and a refresh token by default.
  const signsPeopleIn = usesCode || grantTypes.includes(DEVICE_CODE_GRANT);
  const scope = (input.scope ?? (signsPeopleIn ? 'openid profile email offline_access' : '')).trim().split(/\s+/).filter(Boolean);
  for (const s of scope) {
    if (!isScopeToken(s)) throw new ValidationError(`scope "${s}" is not a valid scope token (RFC 6749 §3.3)`);
  }

  const displayUris: Array<[string, string | undefined]> = [
    ['logo_uri', input.logoUri],
    ['policy_uri', input.policyUri],
    ['tos_uri', input.tosUri],
    ['client_uri', input.clientUri],
    ['backchannel_logout_uri', input.backchannelLogoutUri],
  ];
  const clientId = generateClientId();
  const secret = authMethod.startsWith('client_secret_') ? generateClientSecret() : undefined;
  const metadata: ClientMetadata = {
    client_id: clientId,
    client_name: name,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    grant_types: grantTypes,
    response_types: usesCode ? ['code'] : [],
    redirect_uris: redirectUris,
    token_endpoint_auth_method: authMethod,
  };
  if (postLogoutRedirectUris.length) metadata.post_logout_redirect_uris = postLogoutRedirectUris;
  if (scope.length) metadata.scope = scope.join(' ');
  if (input.jwksUri) metadata.jwks_uri = input.jwksUri;
  if (input.jwks) metadata.jwks = input.jwks;
  if (secret) metadata.client_secret_expires_at = 0;
  for (const [field, value] of displayUris) if (value !== undefined) metadata[field] = value;
  if (input.backchannelLogoutUri) metadata.backchannel_logout_session_required = true;
  if (input.requireDpop) metadata.dpop_bound_access_tokens = true;
  // Redirect, display and fetched URIs, sizes: the same rules as dynamic registration.
  const problem = checkClientMetadata(metadata);
  if (problem) throw new ValidationError(problem.description);
  if (input.firstParty) metadata.tessera_first_party = true;
  if (input.introspects) metadata.tessera_introspects = input.introspects;
  if (input.defaultResource) {
    try {
      new URL(input.defaultResource);
    } catch {
      throw new ValidationError('default resource must be an absolute URI');
    }
    metadata.tessera_default_resource = input.defaultResource;
  }
  if (input.tokenExchangeAudiences?.length) {
    const problem = checkExchangeAudiences(input.tokenExchangeAudiences);
    if (problem) throw new ValidationError(problem);
    metadata[EXCHANGE_AUDIENCES_PROPERTY] = [...new Set(input.tokenExchangeAudiences)];
  }
  if (input.allowImpersonation) metadata[IMPERSONATION_PROPERTY] = true;
  if (input.requireMfa) metadata[REQUIRE_MFA_PROPERTY] = true;
  return { metadata, secret };
}
