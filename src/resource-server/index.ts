// @tessera/resource-server: validate Tessera access tokens in your API (docs/resource-server.md).
// Depends only on `jose` and Node's built-ins (fetch).
//
//   const validator = createTokenValidator({ issuer, audience, mode: 'local+feed', clientId, clientSecret });
//   await validator.start();
//   router.get('/invoices', requireAccess(validator, { scopes: ['invoices:read'] }), handler);
//   // on shutdown: await validator.stop();
export { createTokenValidator } from './validator.ts';
export { requireAccess, type KoaLikeContext } from './koa.ts';
export { checkAccess, grantedScopes, type AccessDecision, type AccessRequirements } from './bearer.ts';
export {
  announceResourceMetadata,
  protectedResourceMetadata,
  protectedResourceMetadataResponse,
  protectedResourceMetadataUrl,
  serveProtectedResourceMetadata,
  type KoaLikeRequestContext,
  type MetadataResponse,
  type ProtectedResourceMetadataOptions,
} from './protected-resource-metadata.ts';
export { accessTokenHash, boundKeyOf } from './dpop.ts';
export type {
  AccessTokenClaims,
  DPoPOptions,
  ProofRequest,
  ProofResult,
  ActorClaim,
  FeedCheckpoint,
  FeedClock,
  FeedOptions,
  FeedStatus,
  FetchFunction,
  RejectReason,
  RevocationEvent,
  TokenValidator,
  TokenValidatorOptions,
  ValidationMode,
  ValidationResult,
} from './types.ts';
