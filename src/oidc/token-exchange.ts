// Token exchange (RFC 8693) at the engine's token endpoint, as a grant type of its own
// (provider.registerGrantType; oidc-provider docs "registerGrantType"). The engine authenticates the client
// and checks it may use the grant type; this handler resolves the subject and actor tokens through the
// engine's own models, asks domain/token-exchange.ts whether and what to issue, and mints the result with
// the engine's Grant and AccessToken: stored (opaque) or signed (JWT) like every other access token, so it
// is introspectable, revocable and seen by the revocation feed.
//
// The issued token belongs to a grant of its own for the exchanging client, made from the subject token's
// grant (store/delegated-grants.ts): revoking that grant — the person withdrawing consent, an operator, a
// refresh-token replay, the subject client disabled — revokes the exchanged token too.
import { errors, type KoaContextWithOIDC, type Client, type FindAccount } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Db } from '../store/db.ts';
import { findResourceServer } from '../store/resource-servers.ts';
import { findConsentForResource, recordDelegation } from '../store/delegated-grants.ts';
import { insertAuditEvent } from '../store/audit.ts';
import { looksLikeJwt } from '../domain/access-token-verifier.ts';
import { INTROSPECTS_PROPERTY } from '../domain/resource-servers.ts';
import {
  decideExchange,
  exchangePolicyOf,
  TOKEN_EXCHANGE_GRANT,
  TOKEN_TYPES,
  type ActClaim,
  type PresentedToken,
  type Refusal,
} from '../domain/token-exchange.ts';
import { clientExtra } from './client-extras.ts';
import { JWT_HANDLE_PREFIX } from './jwt-access-tokens.ts';
import type { EngineCaches } from './engine-caches.ts';
import { EXCHANGE_AUDIENCES_PROPERTY, IMPERSONATION_PROPERTY } from '../domain/token-exchange.ts';

export { TOKEN_EXCHANGE_GRANT };

const PARAMETERS = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'resource', 'audience', 'scope'];
/** RFC 8693 §2.1 allows several; we issue for one API and say so (invalid_target) rather than "duplicate parameter". */
const REPEATABLE = ['resource', 'audience'];
const MAX_TOKEN_LENGTH = 16 * 1024;
const ACCESS_TOKEN_TYPES = new Set<string>([TOKEN_TYPES.accessToken, TOKEN_TYPES.jwt]);
const SUBJECT_TYPES = new Set<string>([...ACCESS_TOKEN_TYPES, TOKEN_TYPES.idToken]);

/** The `act` claim of a token being issued, for extraTokenClaims (withExchangeClaims) to add. */
const pendingAct = new WeakMap<object, ActClaim>();

/** Wraps the configured extraTokenClaims: an exchanged token also carries its actor chain (RFC 8693 §4.1). */
export function withExchangeClaims<T extends (ctx: KoaContextWithOIDC, token: never) => Promise<Record<string, unknown> | undefined>>(extra: T): T {
  return (async (ctx: KoaContextWithOIDC, token: never) => {
    const claims = await extra(ctx, token);
    const act = pendingAct.get(token as object);
    return act ? { ...claims, act } : claims;
  }) as T;
}

export interface TokenExchangeDeps {
  db: Db;
  findAccount: FindAccount;
  resourceServers: EngineCaches['resourceServers'];
}

class ExchangeRefused extends Error {
  readonly refusal: Refusal;
  constructor(refusal: Refusal) {
    super(refusal.description);
    this.refusal = refusal;
  }
}
const refused = (error: Refusal['error'], description: string) => new ExchangeRefused({ ok: false, error, description });

function oauthError(refusal: Refusal) {
  switch (refusal.error) {
    case 'invalid_target':
      return new errors.InvalidTarget(refusal.description);
    case 'invalid_scope':
      return new errors.InvalidScope(refusal.description, '');
    case 'unauthorized_client':
      return new errors.UnauthorizedClient(refusal.description, undefined);
    default:
      return new errors.InvalidRequest(refusal.description);
  }
}

interface Resolved extends PresentedToken {
  /** The grant the token was issued from: the exchanged token's grant is delegated from it. */
  grantId?: string | undefined;
  /** Bound to a key (DPoP `jkt`, mTLS `x5t#S256`): its holder must prove possession to use it. */
  senderConstrained?: boolean;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const splitScope = (scope: unknown) => (typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);
const audiencesOf = (aud: unknown) => (Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : typeof aud === 'string' ? [aud] : []);

export function registerTokenExchange(provider: Provider, deps: TokenExchangeDeps): void {
  /** An access token of ours, opaque or JWT; undefined when it is not (unknown, expired, revoked, foreign). */
  async function findAccessToken(value: string, models: ReadonlyArray<'AccessToken' | 'ClientCredentials'>): Promise<Resolved | undefined> {
    const handle = looksLikeJwt(value) ? `${JWT_HANDLE_PREFIX}${value}` : value;
    for (const model of models) {
      const found: unknown = model === 'AccessToken' ? await provider.AccessToken.find(handle) : await provider.ClientCredentials.find(handle);
      const token = found as
        | (InstanceType<Provider['AccessToken']> & { grantId?: string; accountId?: string; extra?: Record<string, unknown>; isSenderConstrained(): boolean })
        | undefined;
      if (!token?.isValid) continue;
      if (token.grantId) {
        // As introspection does: the grant stands, and belongs to the token's client and person.
        const grant = await provider.Grant.find(token.grantId);
        if (!grant || grant.clientId !== token.clientId || grant.accountId !== token.accountId) return undefined;
      }
      return {
        clientId: token.clientId!,
        accountId: token.accountId,
        audiences: audiencesOf(token.aud),
        scope: splitScope(token.scope),
        exp: token.exp!,
        act: token.extra?.act,
        grantId: token.grantId,
        // A stored token knows its binding; a JWT's is its `cnf` claim (in `extra` once verified).
        senderConstrained: token.isSenderConstrained() || token.extra?.cnf !== undefined,
      };
    }
    return undefined;
  }

  /** Our ID token, issued to `client` (its audience), unexpired. */
  async function findIdToken(value: string, client: Client): Promise<Resolved | undefined> {
    if (client.subjectType === 'pairwise') return undefined;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = (await provider.IdToken.validate(value, client)) as { payload: Record<string, unknown> });
    } catch {
      return undefined;
    }
    if (typeof payload.exp !== 'number' || payload.exp <= nowSeconds() || typeof payload.sub !== 'string') return undefined;
    return { clientId: client.clientId, accountId: payload.sub, audiences: audiencesOf(payload.aud), scope: [], exp: payload.exp };
  }

  async function resolve(ctx: KoaContextWithOIDC, value: unknown, type: unknown, role: 'subject_token' | 'actor_token', client: Client): Promise<Resolved> {
    if (typeof value !== 'string' || value.length === 0) throw refused('invalid_request', `${role} is missing`);
    if (typeof type !== 'string' || type.length === 0) throw refused('invalid_request', `${role}_type is missing`);
    if (value.length > MAX_TOKEN_LENGTH) throw refused('invalid_request', `${role} is too long`);
    if (!SUBJECT_TYPES.has(type)) throw refused('invalid_request', `${role}_type ${type.slice(0, 100)} is not supported here (use ${[...SUBJECT_TYPES].join(', ')})`);
    // RFC 8693 §3: the type says what the token is; a JWT type for an opaque value is a mismatch.
    if (type === TOKEN_TYPES.jwt && !looksLikeJwt(value)) throw refused('invalid_request', `${role} is not a JWT, as ${role}_type says`);
    const token =
      type === TOKEN_TYPES.idToken
        ? await findIdToken(value, client)
        : await findAccessToken(value, role === 'subject_token' ? ['AccessToken', 'ClientCredentials'] : ['ClientCredentials', 'AccessToken']);
    // RFC 8693 §2.2.2: an invalid subject or actor token is invalid_request. One answer for unknown, expired,
    // revoked and foreign tokens: a caller learns nothing about which.
    if (!token) throw refused('invalid_request', `${role} is not an active token of this server`);
    // Exchanging a key-bound token into a bearer token would undo its binding (RFC 9449 §1, RFC 8705 §3):
    // no exchange can prove possession here, so none is made.
    if (token.senderConstrained) throw refused('invalid_request', `${role} is sender-constrained (DPoP or mTLS) and cannot be exchanged`);
    if (token.accountId && !(await deps.findAccount(ctx, token.accountId))) {
      throw refused('invalid_request', `${role} is not an active token of this server`);
    }
    return token;
  }

  /** The one API asked for: `resource` and `audience` (RFC 8693 §2.1) both name it here. */
  function targetOf(params: Record<string, unknown>): string {
    const named = new Set<string>();
    for (const key of ['resource', 'audience']) {
      const value = params[key];
      for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
        if (typeof v !== 'string' || !URL.canParse(v)) throw refused('invalid_target', `${key} must be an absolute URI`);
        named.add(v);
      }
    }
    if (named.size === 0) throw refused('invalid_target', 'name the API the token is for (resource or audience)');
    if (named.size > 1) throw refused('invalid_target', 'a token exchange issues a token for exactly one API');
    return [...named][0]!;
  }

  async function handler(ctx: KoaContextWithOIDC): Promise<void> {
    const client = ctx.oidc.client!;
    const params = ctx.oidc.params as Record<string, unknown>;
    const audit = { clientId: client.clientId, ip: ctx.ip, userAgent: ctx.get('user-agent') || null };
    try {
      await exchange(ctx, client, params, audit);
    } catch (error) {
      if (!(error instanceof ExchangeRefused)) throw error;
      await insertAuditEvent(deps.db, {
        ...audit,
        type: 'token.exchange_refused',
        // Bounded: descriptions quote what the caller sent (a URI, a token type), never a token.
        details: { error: error.refusal.error, reason: error.refusal.description.slice(0, 500), subject_token_type: String(params.subject_token_type ?? '').slice(0, 200) },
      });
      throw oauthError(error.refusal);
    }
  }

  async function exchange(ctx: KoaContextWithOIDC, client: Client, params: Record<string, unknown>, audit: { clientId: string; ip: string; userAgent: string | null }) {
    // RFC 8693 §5: only a client that authenticates exchanges tokens (client metadata rules refuse the grant
    // type to public clients; this holds for a row stored before those rules).
    if (client.clientAuthMethod === 'none') throw refused('unauthorized_client', 'token exchange needs a client that authenticates');
    // The issued token is a bearer token: a client whose tokens must be DPoP-bound, or a request carrying a
    // proof it expects to be honoured, is told so rather than handed an unbound token.
    if ((client as Client & { dpopBoundAccessTokens?: boolean }).dpopBoundAccessTokens || ctx.get('dpop')) {
      throw refused('invalid_request', 'token exchange issues bearer tokens only; DPoP-bound tokens cannot be obtained this way');
    }
    if (params.requested_token_type !== undefined && !ACCESS_TOKEN_TYPES.has(String(params.requested_token_type))) {
      throw refused('invalid_request', `requested_token_type must be ${TOKEN_TYPES.accessToken}`);
    }
    if ((params.actor_token === undefined) !== (params.actor_token_type === undefined)) {
      throw refused('invalid_request', 'actor_token and actor_token_type go together (RFC 8693 §2.1)');
    }
    const target = targetOf(params);
    const policy = exchangePolicyOf({
      [EXCHANGE_AUDIENCES_PROPERTY]: clientExtra(client, EXCHANGE_AUDIENCES_PROPERTY),
      [IMPERSONATION_PROPERTY]: clientExtra(client, IMPERSONATION_PROPERTY),
    });
    // Policy before any lookup: a client that may exchange into nothing learns nothing about tokens.
    if (!policy.audiences.includes(target)) throw refused('invalid_target', `this client may not exchange tokens for ${target}`);
    const api = await deps.resourceServers.get(target, () => findResourceServer(deps.db, target));
    if (!api) throw refused('invalid_target', `${target} is not an API registered here`);

    const subject = await resolve(ctx, params.subject_token, params.subject_token_type, 'subject_token', client);
    if (params.subject_token_type === TOKEN_TYPES.idToken && subject.accountId) {
      // An ID token names the person, not what they allowed: that is their consent to this client for the API.
      const consent = await findConsentForResource(deps.db, subject.accountId, client.clientId, target);
      if (!consent) throw refused('invalid_scope', `the person has not allowed this client access to ${target}`);
      subject.scope = consent.scope;
      subject.grantId = consent.grantId;
    }
    const actor = params.actor_token === undefined ? undefined : await resolve(ctx, params.actor_token, params.actor_token_type, 'actor_token', client);

    const introspects = clientExtra(client, INTROSPECTS_PROPERTY);
    const now = nowSeconds();
    const decision = decideExchange({
      policy,
      presenter: { clientId: client.clientId, introspects: typeof introspects === 'string' ? introspects : undefined },
      subject,
      actor,
      target,
      apiScopes: api.scopes.map((s) => s.name),
      apiTtl: api.accessTokenTtl,
      requestedScope: typeof params.scope === 'string' ? splitScope(params.scope) : undefined,
      now,
    });
    if (!decision.ok) throw new ExchangeRefused(decision);
    const scope = decision.scope.join(' ');
    const accountId = subject.accountId!;

    // The exchanged token's own grant: the exchanging client, the person, this API and scope, no longer
    // than the token; delegated from the subject's grant so that revoking that one ends this one.
    // An absolute `exp`, from the instant the decision was made: a lifetime counted from the save, a second
    // later, could end a second after the subject token.
    const exp = now + decision.expiresIn;
    const grant = new provider.Grant({ accountId, clientId: client.clientId, exp, expiresIn: decision.expiresIn } as never);
    grant.addResourceScope(target, scope);
    const grantId = await grant.save();
    if (subject.grantId && !(await recordDelegation(deps.db, grantId, subject.grantId))) {
      await grant.destroy();
      throw refused('invalid_request', 'subject_token is not an active token of this server');
    }

    const token = new provider.AccessToken({ accountId, client, grantId, gty: 'token_exchange', scope, exp, expiresIn: decision.expiresIn } as never);
    token.resourceServer = new provider.ResourceServer(target, {
      scope: api.scopes.map((s) => s.name).join(' '),
      audience: target,
      accessTokenTTL: decision.expiresIn,
      accessTokenFormat: api.accessTokenFormat,
      ...(api.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: api.signingAlg as 'ES256' } } } : {}),
    });
    if (decision.act) pendingAct.set(token, decision.act);
    // The request log and the engine's token.issued audit event name the person (oidc/observe.ts).
    const account = await deps.findAccount(ctx, accountId);
    if (account) ctx.oidc.entity('Account', account);
    ctx.oidc.entity('Grant', grant);
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();

    await insertAuditEvent(deps.db, {
      ...audit,
      type: 'token.exchanged',
      accountId,
      details: {
        audience: target,
        scope,
        subject_token_type: params.subject_token_type,
        subject_client_id: subject.clientId,
        ...(decision.act ? { act: decision.act } : {}),
        impersonation: actor === undefined,
        grant_id: grantId,
        ...(subject.grantId ? { delegated_from: subject.grantId } : {}),
      },
    });

    // RFC 8693 §2.2.1.
    ctx.body = {
      access_token: value,
      issued_token_type: TOKEN_TYPES.accessToken,
      token_type: token.tokenType,
      expires_in: Math.max(1, exp - nowSeconds()),
      scope,
    };
  }

  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, handler, PARAMETERS, REPEATABLE);
}
