// Token exchange (RFC 8693) as rules: the per-client policy operators set, which subject and actor tokens a
// client may present, the actor chain the new token carries, its scope and its lifetime. Pure: no engine,
// no database; oidc/token-exchange.ts gathers the facts and asks these.

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** RFC 8693 §3 token type identifiers. */
export const TOKEN_TYPES = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
} as const;

/** Server-owned client metadata (set by operators only; see oidc/registrant-metadata.ts). */
export const EXCHANGE_AUDIENCES_PROPERTY = 'tessera_token_exchange_audiences';
export const IMPERSONATION_PROPERTY = 'tessera_token_exchange_impersonation';

/** How deep an actor chain may grow: each exchange of an exchanged token adds one level. */
export const MAX_ACTOR_DEPTH = 5;
const MAX_AUDIENCES = 20;

export interface ExchangePolicy {
  /** The APIs (resource server identifiers) the client may exchange tokens into. */
  audiences: readonly string[];
  /** Whether it may obtain a token without `act` (no actor_token): off unless an operator turns it on. */
  impersonation: boolean;
}

export function exchangePolicyOf(metadata: Record<string, unknown>): ExchangePolicy {
  const audiences = metadata[EXCHANGE_AUDIENCES_PROPERTY];
  return {
    audiences: Array.isArray(audiences) ? audiences.filter((a): a is string => typeof a === 'string') : [],
    impersonation: metadata[IMPERSONATION_PROPERTY] === true,
  };
}

/** An operator's list of exchange audiences: absolute URIs without fragment (RFC 8707 §2), a few at most. */
export function checkExchangeAudiences(audiences: readonly unknown[]): string | undefined {
  if (audiences.length > MAX_AUDIENCES) return `at most ${MAX_AUDIENCES} token exchange audiences`;
  for (const audience of audiences) {
    if (typeof audience !== 'string' || audience.length > 2048) return 'a token exchange audience must be a URI of at most 2048 characters';
    const url = URL.parse(audience);
    if (!url || audience.includes('#')) return `token exchange audience "${audience}" must be an absolute URI without fragment (RFC 8707 §2)`;
  }
  return undefined;
}

/** RFC 8693 §4.1: the actor, and the actors before it nested inside. */
export interface ActClaim {
  sub: string;
  client_id?: string;
  act?: ActClaim;
}

/** What we know of a presented token, whichever kind it was. */
export interface PresentedToken {
  /** The client it was issued to (an ID token: its audience). */
  clientId: string;
  /** The person it stands for; absent for a client's own (client_credentials) token. */
  accountId?: string | undefined;
  audiences: readonly string[];
  scope: readonly string[];
  /** Seconds since the epoch. */
  exp: number;
  act?: unknown;
}

/** The caller as policy sees it: its id and the API it introspects for (a resource server's own client). */
export interface Presenter {
  clientId: string;
  introspects?: string | undefined;
}

export type Refusal = { ok: false; error: 'invalid_request' | 'invalid_target' | 'invalid_scope' | 'unauthorized_client'; description: string };
const refuse = (error: Refusal['error'], description: string): Refusal => ({ ok: false, error, description });

/**
 * Who may present a subject token: the client it was issued to (an agent acting on the person's token),
 * or the API it was issued for (a resource server calling further on the person's behalf). A token seen
 * anywhere else — leaked, or meant for someone else — is no one's to exchange.
 */
export function mayPresentSubject(presenter: Presenter, subject: PresentedToken): boolean {
  if (subject.clientId === presenter.clientId) return true;
  return presenter.introspects !== undefined && subject.audiences.includes(presenter.introspects);
}

/** A well-formed `act` claim from a token of ours: sub and client_id strings, nested at most MAX_ACTOR_DEPTH deep. */
export function parseActClaim(value: unknown, depth = 1): ActClaim | undefined | 'invalid' {
  if (value === undefined) return undefined;
  if (depth > MAX_ACTOR_DEPTH || typeof value !== 'object' || value === null || Array.isArray(value)) return 'invalid';
  const { sub, client_id: clientId, act } = value as Record<string, unknown>;
  if (typeof sub !== 'string' || (clientId !== undefined && typeof clientId !== 'string')) return 'invalid';
  const inner = parseActClaim(act, depth + 1);
  if (inner === 'invalid') return 'invalid';
  return { sub, ...(clientId !== undefined ? { client_id: clientId } : {}), ...(inner ? { act: inner } : {}) };
}

export interface ExchangeRequest {
  policy: ExchangePolicy;
  presenter: Presenter;
  subject: PresentedToken;
  /** The actor token, already checked to be the presenter's own; absent: impersonation. */
  actor?: PresentedToken | undefined;
  /** The API asked for (resource or audience parameter). */
  target: string;
  /** The scopes the target API defines. */
  apiScopes: readonly string[];
  /** The API's own access-token lifetime, seconds. */
  apiTtl: number;
  requestedScope?: readonly string[] | undefined;
  /** Seconds since the epoch. */
  now: number;
}

export type ExchangeDecision = { ok: true; scope: string[]; act: ActClaim | undefined; expiresIn: number } | Refusal;

export function decideExchange(request: ExchangeRequest): ExchangeDecision {
  const { policy, presenter, subject, actor } = request;
  if (!policy.audiences.includes(request.target)) {
    return refuse('invalid_target', `this client may not exchange tokens for ${request.target}`);
  }
  if (!mayPresentSubject(presenter, subject)) {
    return refuse('invalid_request', 'subject_token was issued neither to this client nor for the API it serves');
  }
  if (!subject.accountId) return refuse('invalid_request', 'subject_token must stand for a person (a client\'s own token cannot be exchanged)');
  if (!actor && !policy.impersonation) {
    return refuse('invalid_request', 'actor_token is required: this client may act for a person (delegation), not impersonate them');
  }
  if (actor && actor.clientId !== presenter.clientId) return refuse('invalid_request', 'actor_token must have been issued to this client');

  const prior = parseActClaim(subject.act);
  if (prior === 'invalid') return refuse('invalid_request', 'subject_token carries an act claim that cannot be extended');
  // RFC 8693 §4.1: the current actor outermost, earlier ones nested. Without an actor (impersonation) an
  // existing chain stays: who acted before is never erased.
  const act = actor ? { sub: actor.accountId ?? actor.clientId, client_id: actor.clientId, ...(prior ? { act: prior } : {}) } : prior;
  if (act && depthOf(act) > MAX_ACTOR_DEPTH) return refuse('invalid_request', `the actor chain may be at most ${MAX_ACTOR_DEPTH} deep`);

  // No wider than the subject token and the API: the scopes both hold, and of those only the ones asked for.
  const api = new Set(request.apiScopes);
  const available = subject.scope.filter((s) => api.has(s));
  let scope = available;
  if (request.requestedScope?.length) {
    const held = new Set(available);
    const beyond = request.requestedScope.filter((s) => !held.has(s));
    if (beyond.length) return refuse('invalid_scope', `scope ${beyond.join(' ')} is not held by subject_token for ${request.target}`);
    scope = [...new Set(request.requestedScope)];
  }
  if (scope.length === 0) return refuse('invalid_scope', `subject_token holds none of the scopes ${request.target} defines`);

  // Never outlives the subject token (nor the actor's).
  const expiresIn = Math.min(request.apiTtl, subject.exp - request.now, actor ? actor.exp - request.now : Infinity);
  if (expiresIn <= 0) return refuse('invalid_request', 'subject_token or actor_token has expired');
  return { ok: true, scope, act, expiresIn };
}

function depthOf(act: ActClaim): number {
  return act.act ? 1 + depthOf(act.act) : 1;
}
