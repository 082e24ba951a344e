// The framework-neutral part of protecting a route (RFC 6750): read the Authorization header, validate the
// token, check scopes and roles, and say what to answer — the status, WWW-Authenticate and a JSON body.
// Adapters (koa.ts) only copy that decision onto their response.
import type { AccessTokenClaims, ProofRequest, RejectReason, TokenValidator } from './types.ts';
import { checkBinding, DPOP_DEFAULT_ALGORITHMS, dpopChallenge, dpopToken } from './dpop.ts';

export interface AccessRequirements {
  /** Every one of these scopes must have been granted. */
  scopes?: string[];
  /** Every one of these roles must be in the token's `roles` claim (Tessera: the `roles` scope). */
  roles?: string[];
  /** The realm named in WWW-Authenticate (default "api"). */
  realm?: string;
  /** RFC 9728: this API's protected-resource metadata URL, named in its challenges (protected-resource-metadata.ts). */
  resourceMetadata?: string;
}

export type AccessDecision =
  | { ok: true; claims: AccessTokenClaims }
  | {
      ok: false;
      status: 400 | 401 | 403 | 503;
      headers: Record<string, string>;
      body: { error: string; error_description: string };
      /** Why the token was refused (absent when there was no token at all), for logs. */
      reason?: RejectReason | 'insufficient_scope' | 'insufficient_role' | 'invalid_dpop_proof' | 'use_dpop_nonce' | 'dpop_binding';
    };

// RFC 6750 §2.1: b64token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

// Fixed texts only: error_description must not echo anything the caller sent (RFC 6750 §3: no `"` or `\`).
const DESCRIPTIONS: Record<RejectReason, string> = {
  malformed: 'The access token is malformed',
  wrong_type: 'The token is not an access token',
  algorithm_not_allowed: 'The access token is signed with an algorithm that is not accepted',
  unknown_key: 'The access token is signed with an unknown key',
  invalid_signature: 'The access token signature is invalid',
  wrong_issuer: 'The access token was issued by another issuer',
  wrong_audience: 'The access token is not meant for this API',
  expired: 'The access token expired',
  not_yet_valid: 'The access token is not valid yet',
  missing_claim: 'The access token lacks a required claim',
  revoked: 'The access token was revoked',
  inactive: 'The access token is not active',
  unavailable: 'The access token cannot be checked right now',
};

function challenge(realm: string, params: Record<string, string> = {}): string {
  const quoted = (v: string) => `"${v.replace(/["\\]/g, '')}"`;
  const parts = [`realm=${quoted(realm)}`, ...Object.entries(params).map(([k, v]) => `${k}=${quoted(v)}`)];
  return `Bearer ${parts.join(', ')}`;
}

export function grantedScopes(claims: AccessTokenClaims): Set<string> {
  return new Set(typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []);
}

/**
 * `request` (method, absolute URL, DPoP header) is what a DPoP proof is checked against (RFC 9449 §4.3);
 * without it, a token bound to a key is refused.
 */
export async function checkAccess(validator: TokenValidator, authorization: string | undefined, requirements: AccessRequirements = {}, request?: ProofRequest): Promise<AccessDecision> {
  const realm = requirements.realm ?? 'api';
  const algs = validator.dpopAlgorithms ?? DPOP_DEFAULT_ALGORITHMS;
  // RFC 9449 §7.1: `Authorization: DPoP <token>` (token: the value, null: malformed, undefined: another scheme).
  const dpop = authorization === undefined ? undefined : dpopToken(authorization);
  if (!authorization || (dpop === undefined && !/^Bearer(\s|$)/i.test(authorization))) {
    // RFC 6750 §3.1: a request without credentials gets the challenge but no error code.
    return { ok: false, status: 401, headers: { 'WWW-Authenticate': `${challenge(realm)}, ${dpopChallenge(algs)}` }, body: { error: 'invalid_request', error_description: 'A bearer access token is required' } };
  }
  const match = dpop === undefined ? BEARER.exec(authorization) : dpop === null ? null : [authorization, dpop];
  if (!match) {
    const description = 'The Authorization header is not a valid bearer token';
    const header = dpop === undefined ? challenge(realm, { error: 'invalid_request', error_description: description }) : dpopChallenge(algs, { error: 'invalid_request', error_description: description });
    return { ok: false, status: 400, headers: { 'WWW-Authenticate': header }, body: { error: 'invalid_request', error_description: description } };
  }

  const result = await validator.validate(match[1]!);
  if (!result.ok) {
    const description = DESCRIPTIONS[result.reason];
    if (result.reason === 'unavailable') {
      return { ok: false, status: 503, headers: { 'Retry-After': '5' }, body: { error: 'temporarily_unavailable', error_description: description }, reason: result.reason };
    }
    return {
      ok: false,
      status: 401,
      headers: { 'WWW-Authenticate': challenge(realm, { error: 'invalid_token', error_description: description }) },
      body: { error: 'invalid_token', error_description: description },
      reason: result.reason,
    };
  }

  const binding = await checkBinding(validator.checkProof, { scheme: dpop === undefined ? 'bearer' : 'dpop', token: match[1]!, claims: result.claims }, request);
  if (!binding.ok) {
    const { error, description } = binding;
    return {
      ok: false,
      status: 401,
      headers: { 'WWW-Authenticate': dpopChallenge(algs, { error, error_description: description }), ...('nonce' in binding ? { 'DPoP-Nonce': binding.nonce } : {}) },
      body: { error, error_description: description },
      reason: error === 'invalid_token' ? 'dpop_binding' : error,
    };
  }

  const required = requirements.scopes ?? [];
  const granted = grantedScopes(result.claims);
  if (!required.every((s) => granted.has(s))) {
    const description = `This request needs the scope${required.length > 1 ? 's' : ''} ${required.join(' ')}`;
    return {
      ok: false,
      status: 403,
      headers: { 'WWW-Authenticate': challenge(realm, { error: 'insufficient_scope', scope: required.join(' '), error_description: description }) },
      body: { error: 'insufficient_scope', error_description: description },
      reason: 'insufficient_scope',
    };
  }
  const roles = new Set(Array.isArray(result.claims.roles) ? result.claims.roles : []);
  const neededRoles = requirements.roles ?? [];
  if (!neededRoles.every((r) => roles.has(r))) {
    const description = `This request needs the role${neededRoles.length > 1 ? 's' : ''} ${neededRoles.join(' ')}`;
    return {
      ok: false,
      status: 403,
      headers: { 'WWW-Authenticate': challenge(realm, { error: 'insufficient_scope', error_description: description }) },
      body: { error: 'insufficient_scope', error_description: description },
      reason: 'insufficient_role',
    };
  }
  return { ok: true, claims: result.claims };
}
