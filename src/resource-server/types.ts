// Public types of the resource-server module: what an API author configures and what validation returns.

/**
 * How access tokens are checked.
 * - `local`: signature and claims against the issuer's published keys. A revoked token is accepted until
 *   it expires.
 * - `local+feed`: as `local`, plus the issuer's revocation feed followed in the background; a revoked
 *   token is refused within about one feed round trip (typically well under 2 s).
 * - `introspection`: every call asks the issuer (RFC 7662); revocation is seen at once.
 */
export type ValidationMode = 'local' | 'local+feed' | 'introspection';

/** The `fetch` this module uses for every request (discovery, keys, token, feed, introspection). */
export type FetchFunction = typeof globalThis.fetch;

/** Claims of a valid access token (RFC 9068 §2.2 plus Tessera's `gid`, `roles`, `groups`). */
export interface AccessTokenClaims {
  iss: string;
  /** The person (authorization code) or the client (client_credentials). Introspection may omit it for client tokens. */
  sub?: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  /** Space-separated granted scopes. */
  scope?: string;
  /** Grant id: present on tokens issued from a person's grant, absent on client_credentials tokens. */
  gid?: string;
  roles?: string[];
  groups?: string[];
  /** RFC 9449 §6: the key a DPoP-bound token is bound to (its RFC 7638 thumbprint); checked by checkAccess. */
  cnf?: { jkt?: string; [member: string]: unknown };
  /** RFC 8693 §4.1: who acts for `sub` (a token exchange); earlier actors nested inside. Absent: `sub` itself. */
  act?: ActorClaim;
  [claim: string]: unknown;
}

/** An actor (RFC 8693 §4.1): the client or person acting, and the actor before it. */
export interface ActorClaim {
  sub: string;
  client_id?: string;
  act?: ActorClaim;
}

/**
 * Why a token was refused. `unavailable` is the only one that is not the token's fault: the issuer (keys,
 * introspection, or the revocation feed) could not be reached, so no decision could be made.
 */
export type RejectReason =
  | 'malformed'
  | 'wrong_type'
  | 'algorithm_not_allowed'
  | 'unknown_key'
  | 'invalid_signature'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_claim'
  | 'revoked'
  | 'inactive'
  | 'unavailable';

export type ValidationResult =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; reason: RejectReason; /** For logs; never show it to the caller verbatim. */ detail?: string };

/** One event of the revocation feed, as the issuer sends it (GET /revocations/feed). */
export interface RevocationEvent {
  cursor: string;
  type: 'token-revoked' | 'session-revoked' | 'client-disabled' | (string & {});
  /** token-revoked: the revoked token. */
  jti?: string;
  /** session-revoked: the revoked grant; every token carrying this `gid` is revoked. */
  gid?: string;
  /** client-disabled: every token of this client issued at or before `occurred_at` is revoked. */
  client_id?: string;
  sub?: string;
  aud?: string[];
  reason?: string;
  occurred_at: number;
  /** Every token the event covers has expired by then (seconds since the epoch). */
  valid_until: number;
}

/**
 * What `local+feed` persists so that a restarted process resumes without a gap: the cursor and the
 * revocations that are still in force (JSON-serialisable). A cursor alone is not enough — the revocations
 * read before it would be forgotten by a new process.
 */
export interface FeedCheckpoint {
  version: 1;
  issuer: string;
  audience: string;
  cursor: string;
  events: RevocationEvent[];
}

export interface FeedOptions {
  /** Seconds one long-poll request waits for new events (0-25; default 20). */
  pollWaitSeconds?: number;
  /**
   * Without a successful feed read for this long, validate() answers `unavailable` instead of trusting a
   * revocation list that may be out of date (fail closed). Default: max(60, 2 × pollWaitSeconds + 10).
   * `Infinity` keeps accepting tokens during an outage of the issuer (fail open).
   */
  maxStalenessSeconds?: number;
  /** How long start() keeps retrying the first catch-up before it gives up (default 30). */
  startTimeoutSeconds?: number;
  /**
   * The follower's time: its pauses between reads, its back-off, `startTimeoutSeconds` and the staleness
   * check. Default: the system clock. Tests pass a clock they move forward themselves (an outage of seconds
   * is then checked without waiting for it).
   */
  clock?: FeedClock;
  /** Feed URL; default `${issuer}/revocations/feed`. */
  endpoint?: string;
  /** Returns the checkpoint saved by an earlier process, if any. */
  loadCheckpoint?(): Promise<FeedCheckpoint | undefined>;
  /** Called after every batch of events has been applied. Errors are reported to onError, not fatal. */
  saveCheckpoint?(checkpoint: FeedCheckpoint): Promise<void>;
}

/** Time as the feed follower reads and waits for it (FeedOptions.clock). */
export interface FeedClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves once `ms` have passed on this clock, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** RFC 9449 DPoP proofs for tokens bound to a key (`cnf.jkt`); every mode checks them (dpop.ts). */
export interface DPoPOptions {
  /** Accepted proof algorithms; asymmetric only. Default ES256, ES384, EdDSA, Ed25519, PS256, RS256. */
  algorithms?: string[];
  /** How old a proof's `iat` may be, in seconds (default 60); the clock tolerance is added both ways. */
  maxAgeSeconds?: number;
  /** Most proof `jti`s remembered at once (default 100000); see docs/resource-server.md, DPoP. */
  replayCacheSize?: number;
  /** The API's origin as clients call it, when a proxy in front changes scheme, host or port. */
  publicOrigin?: string;
  /**
   * RFC 9449 §9: when set (at least 32 characters; the same in every process of the API), every proof must
   * carry a nonce this API issued: a proof without one is answered 401 `use_dpop_nonce` with a `DPoP-Nonce`
   * header, and DPoP clients retry with it. Nonces change every minute and are accepted for two.
   */
  nonceSecret?: string;
  /** The proofs' clock, in seconds since the epoch (tests). Default: the system clock. */
  now?: () => number;
}

/** The request a DPoP proof must have been made for. */
export interface ProofRequest {
  /** The HTTP method (GET, POST…). */
  method: string;
  /** The absolute URL the client called (query and fragment are ignored). */
  url: string;
  /** The DPoP header(s) as received. */
  proof: string | string[] | undefined;
}

export type ProofResult =
  | { ok: true; jkt: string }
  | { ok: false; error: 'invalid_dpop_proof' | 'invalid_token'; description: string; /** For logs. */ detail?: string }
  /** RFC 9449 §9: send `nonce` as the DPoP-Nonce header; the client retries with it. */
  | { ok: false; error: 'use_dpop_nonce'; description: string; nonce: string };

export interface TokenValidatorOptions {
  /** The issuer URL exactly as in the tokens' `iss` claim. */
  issuer: string;
  /** This API's resource identifier (the tokens' `aud`). */
  audience: string;
  mode: ValidationMode;
  /** The API's introspection client (from `tessera resource create`); needed for `introspection` and `local+feed`. */
  clientId?: string;
  clientSecret?: string;
  /** Accepted signature algorithms; asymmetric only. Default ['ES256', 'RS256', 'EdDSA']. */
  algorithms?: string[];
  /** Leeway for exp/nbf against this machine's clock, in seconds (default 5). */
  clockToleranceSeconds?: number;
  /** After fetching the key set, no refetch (for an unknown `kid`) for this long; default 30 (jose's). */
  jwksCooldownSeconds?: number;
  /**
   * The key set is refreshed after this long (default 600, jose's). If the issuer cannot be reached then,
   * the keys already fetched keep verifying tokens until it can.
   */
  jwksCacheMaxAgeSeconds?: number;
  /** Timeout of each request to the issuer, in seconds (default 5; a feed long-poll gets its wait on top). */
  requestTimeoutSeconds?: number;
  feed?: FeedOptions;
  /** DPoP proof rules (RFC 9449); bound tokens are always checked, these only tune how. */
  dpop?: DPoPOptions;
  fetch?: FetchFunction;
  /** Problems in the background (feed errors, checkpoint saves). Default: console.warn. */
  onError?: (error: Error) => void;
}

export interface FeedStatus {
  cursor: string;
  caughtUp: boolean;
  /** Milliseconds since the epoch of the last successful feed read, 0 if none. */
  lastSyncAt: number;
  revokedTokens: number;
  revokedGrants: number;
  disabledClients: number;
}

export interface TokenValidator {
  readonly mode: ValidationMode;
  /** Never throws for a bad token: every expected outcome is a result. */
  validate(token: string): Promise<ValidationResult>;
  /**
   * Fetches discovery metadata (all modes) and, in `local+feed`, resolves after the first catch-up read of
   * the feed. Rejects if the issuer stays unreachable for `feed.startTimeoutSeconds`.
   */
  start(): Promise<void>;
  /** Stops the feed follower (aborting its open request) and waits for it to finish. */
  stop(): Promise<void>;
  /** For health checks: the feed follower's state (undefined unless `local+feed`). */
  feedStatus(): FeedStatus | undefined;
  /**
   * RFC 9449 §4.3: the DPoP proof of `request` for `token`, bound to `jkt`. A validator without it cannot
   * accept a bound token (checkAccess refuses it).
   */
  checkProof?(request: ProofRequest, token: string, jkt: string): Promise<ProofResult>;
  /** The DPoP proof algorithms accepted, for the `algs` of the DPoP challenge. */
  readonly dpopAlgorithms?: string[];
}
