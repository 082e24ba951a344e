// createProvider: the whole engine configuration in one readable place. Each hook is delegated to a sibling
// module. Engine reference: oidc-provider docs/README.md (configuration options named below).
import Provider, { errors, type Configuration, type JWK } from 'oidc-provider';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Db } from '../store/db.ts';
import type { SecretBox } from '../domain/secret-box.ts';
import { createAdapterClass } from './adapter.ts';
import { createFindAccount } from './account.ts';
import { createResourceIndicators } from './resources.ts';
import { advertiseResourceScopes } from './discovery.ts';
import { createUnitOfWork } from './unit-of-work.ts';
import type { EngineCaches } from './engine-caches.ts';
import { createJwtAccessTokens, type RevocationMemory } from './jwt-access-tokens.ts';
import { attachRegistrationHooks, createRegistrationFeature } from './registration.ts';
import { createRegistrantMetadataValidator, SERVER_OWNED_PROPERTIES } from './registrant-metadata.ts';
import type { AccessTokenVerifier } from '../domain/access-token-verifier.ts';
import { attachEngineEvents } from './events.ts';
import { answerUnknownRoutes } from './not-found.ts';
import type { EnginePages } from './engine-pages.ts';
import { createLoadExistingGrant } from './consent.ts';
import { createExtraTokenClaims } from './account.ts';
import { introspectionAllowed, revocationAllowed } from './token-policies.ts';
import { OIDC_SCOPES } from './scopes.ts';
import { acceptRotatedSecrets } from './secret-grace.ts';
import { rememberClientInstances } from './client-instances.ts';
import { guardDatabase, retryAfterOutages } from './database-errors.ts';
import { observeEngine } from './observe.ts';
import { createEngineFetch, refusePrivateMetadataUris } from './outbound.ts';
import { limitClientAssertionLifetime } from './client-assertions.ts';
import { createClientIdMetadataDocuments } from './client-id-metadata-documents.ts';
import { createDPoPFeature, DPOP_SIGNING_ALGS } from './dpop.ts';
import { registerTokenExchange, withExchangeClaims } from './token-exchange.ts';
import type { Metrics } from '../metrics.ts';
import type { AuditBuffer } from '../domain/audit-buffer.ts';
import { advertisePollInterval, createDeviceFlowFeature, createDevicePollGuard, createUserCodeLookupGuard } from './device-flow.ts';

const guardResourceLookups = <R extends { getResourceServerInfo: (...a: never[]) => Promise<unknown> }>(indicators: R): R => ({
  ...indicators,
  getResourceServerInfo: guardDatabase(indicators.getResourceServerInfo),
});
import { adminAudience } from '../domain/admin-scopes.ts';
import { createInteractionPolicy } from './second-factor-policy.ts';
import { withAuthenticationClaims } from './authentication-claims.ts';
import { ACR_VALUES } from '../domain/second-factor-policy.ts';
import { feedAudience } from '../domain/scope-privileges.ts';

/** Browser pages the engine renders itself (error, logout confirmation, signed-out); supplied by http/. */
export type { EnginePages };

export interface ProviderDeps {
  db: Db;
  box: SecretBox;
  verifier: AccessTokenVerifier;
  logger: Logger;
  signingKeys: JWK[];
  cookieKeys: string[];
  pages: EnginePages;
  /** Client and resource-server caches; the serving process keeps one across engine rebuilds. */
  caches: EngineCaches;
  /** The serving process's in-memory revocations (revocation-watch.ts); absent: every check is a query. */
  revocations?: RevocationMemory | undefined;
  /** Engine outcomes counted for Prometheus (tokens by grant type, introspection, revocation). */
  metrics?: Metrics;
  /** Batched audit events for token issuance and revocation. */
  audit?: AuditBuffer;
}

/** What an app that sent no code_challenge is told (mod_auth_openidc: set `OIDCPKCEMethod S256`). */
export const PKCE_MISSING = 'code_challenge is missing: every authorization request must use PKCE (RFC 7636) with code_challenge_method=S256';

export const INTERACTION_PATH = '/interaction';
export const INTROSPECTION_PATH = '/token/introspection';
export const REVOCATION_PATH = '/token/revocation';
export const FEED_PATH = '/revocations/feed';
/** The audience of the bearer tokens with which resource servers read the revocation feed. */
export { feedAudience };

export function createProvider(config: Config, deps: ProviderDeps): Provider {
  // A refresh-token exchange runs in one transaction (unit-of-work.ts). Every engine hook reads and writes
  // through `db`, which is that transaction while the request holds one and the pool otherwise.
  const unitOfWork = createUnitOfWork(deps.db);
  const db = unitOfWork.db;
  // `Secure` follows ctx.secure: TLS, or X-Forwarded-Proto from a trusted proxy (TRUST_PROXY).
  const cookie = { httpOnly: true, sameSite: 'lax' as const, signed: true };
  // https client_ids resolved from their metadata documents, under Tessera's policy (CLIENT_ID_METADATA_DOCUMENTS).
  const documents = createClientIdMetadataDocuments(config);
  const findAccount = guardDatabase(createFindAccount(db, deps.caches.accounts));

  const configuration: Configuration = {
    adapter: createAdapterClass({
      db,
      box: deps.box,
      accessTokenTtlSeconds: config.ttl.accessToken,
      refreshReuseGraceSeconds: config.ttl.refreshReuseGrace,
      clients: deps.caches.clients,
      grants: deps.caches.grants,
      unitOfWork,
      jwtAccessTokens: createJwtAccessTokens({ db, verifier: deps.verifier, revocations: deps.revocations }),
      userCodeLookup: createUserCodeLookupGuard(db, config),
      devicePolled: createDevicePollGuard(db, config),
    }),
    routes: { introspection: INTROSPECTION_PATH, revocation: REVOCATION_PATH },
    findAccount,
    jwks: { keys: deps.signingKeys },
    cookies: {
      keys: deps.cookieKeys,
      names: { session: 'tessera.session', interaction: 'tessera.interaction', resume: 'tessera.resume' },
      long: cookie,
      short: cookie,
    },
    scopes: [...OIDC_SCOPES],
    // Tessera's own client properties, settable by operators only (registrant-metadata.ts).
    extraClientMetadata: {
      properties: [...SERVER_OWNED_PROPERTIES],
      validator: documents.guardMetadata(
        refusePrivateMetadataUris(
          createRegistrantMetadataValidator({ openScopes: config.registrationPolicy === 'open' ? config.registrationOpenScopes : null }),
          config,
          SERVER_OWNED_PROPERTIES[0],
        ),
        SERVER_OWNED_PROPERTIES[0],
      ),
    },
    claims: {
      // amr (RFC 8176): how the person signed in — pwd, fed through an upstream identity provider, otp and mfa
      // with a second factor; acr: how strongly (domain/second-factor-policy.ts), in every ID token.
      openid: ['sub', 'amr', 'acr'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      roles: ['roles', 'groups'],
    },
    acrValues: [...ACR_VALUES],
    // Claims of granted scopes go into the ID token too (as Keycloak does), not only to userinfo.
    conformIdTokenClaims: false,
    // An exchanged token (RFC 8693) also carries its actor chain, `act` (token-exchange.ts).
    extraTokenClaims: withAuthenticationClaims(withExchangeClaims(guardDatabase(createExtraTokenClaims(db, config.rolesInTokens)))),
    loadExistingGrant: guardDatabase(createLoadExistingGrant(db)),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    // private_key_jwt assertions live at most 5 minutes (RFC 7523 §3 leaves the limit to us).
    assertJwtClientAuthClaimsAndHeader: limitClientAssertionLifetime(config.clockToleranceSeconds),
    // OAuth 2.1: the code flow only — no implicit or hybrid response types.
    responseTypes: ['code'],
    // RFC 9700 §2.1.1: PKCE for every client; the engine supports only S256. The engine asks this only when
    // a code request came without code_challenge: answer with words that say what to send (its own are
    // "Authorization Server policy requires PKCE to be used for this request"), which the app shows.
    pkce: {
      required: () => {
        throw new errors.InvalidRequest(PKCE_MISSING);
      },
    },
    // RFC 9700 §4.14.2: rotate every refresh token; reuse of a rotated one revokes the grant (engine behaviour).
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      // A resource server's own lifetime wins (RFC 8707 resources, the revocation feed's 5 minutes).
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      AuthorizationCode: config.ttl.authorizationCode,
      IdToken: config.ttl.idToken,
      RefreshToken: config.ttl.refreshToken,
      // Idle timeout, never past the absolute lifetime counted from sign-in. Re-evaluated on every save.
      Session: (_ctx, session) => {
        const age = Math.floor(Date.now() / 1000) - (session.loginTs ?? Math.floor(Date.now() / 1000));
        return Math.max(1, Math.min(config.ttl.sessionIdle, config.ttl.session - age));
      },
      Interaction: config.ttl.interaction,
      DeviceCode: config.deviceFlow.codeTtlSeconds,
      Grant: Math.max(config.ttl.refreshToken, config.ttl.session),
    },
    // The login prompt also asks for a second factor when the request or the account needs one (second-factor-policy.ts).
    interactions: { policy: createInteractionPolicy(db, config), url: async (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true, allowedPolicy: introspectionAllowed },
      // RFC 9701: a signed introspection response for callers sending Accept: application/token-introspection+jwt.
      jwtIntrospection: { enabled: true },
      revocation: { enabled: true, allowedPolicy: revocationAllowed },
      clientCredentials: { enabled: true },
      // RFC 8628 for CLI tools and TVs (device-flow.ts).
      deviceFlow: createDeviceFlowFeature(config, deps.pages),
      backchannelLogout: { enabled: true },
      clientIdMetadataDocument: documents.feature,
      dPoP: createDPoPFeature(deps.box, config.dpopRequireNonce),
      ...createRegistrationFeature(db, config.registrationPolicy),
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: deps.pages.logoutSource,
        postLogoutSuccessSource: deps.pages.postLogoutSuccessSource,
      },
      resourceIndicators: guardResourceLookups(
        createResourceIndicators({
          db,
          defaultAudience: config.defaultAudience,
          feedAudience: feedAudience(config.issuer),
          adminAudience: adminAudience(config.issuer),
          accessTokenTtlSeconds: config.ttl.accessToken,
          resourceServers: deps.caches.resourceServers,
        }),
      ),
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      userinfoSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      introspectionSigningAlgValues: ['ES256', 'RS256', 'EdDSA'],
      clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      dPoPSigningAlgValues: DPOP_SIGNING_ALGS,
    },
    // OpenID Connect Dynamic Registration §2: RS256 is the default ID token algorithm.
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      introspection_signed_response_alg: 'ES256',
    },
    renderError: deps.pages.renderError,
    clockTolerance: config.clockToleranceSeconds,
    // jwks_uri and sector_identifier_uri documents are small; the engine's default is unlimited.
    fetchResponseBodyLimits: { 'client_id metadata document': 5 * 1024, jwks_uri: 64 * 1024, sector_identifier_uri: 64 * 1024 },
    // The engine guards its outgoing requests against special-use addresses (SSRF); one switch per purpose
    // lifts it: back-channel logout vs documents named by client metadata (outbound.ts).
    fetch: createEngineFetch(config),
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  attachEngineEvents(provider, deps.logger, unitOfWork);
  answerUnknownRoutes(provider, deps.pages);
  acceptRotatedSecrets(provider, db, deps.box);
  rememberClientInstances(provider);
  documents.install(provider);
  attachRegistrationHooks(provider, db);
  retryAfterOutages(provider);
  observeEngine(provider, deps.metrics, deps.audit);
  registerTokenExchange(provider, { db, findAccount, resourceServers: deps.caches.resourceServers });
  advertiseResourceScopes(provider, db, deps.caches.resourceScopes);
  advertisePollInterval(provider, config);
  // Last, so innermost: the metrics, audit and Retry-After middleware above see the answer after COMMIT.
  unitOfWork.install(provider);
  return provider;
}
