// The pure rules of token exchange (domain/token-exchange.ts): policy, presenter, actor chain, scope, lifetime.
import { describe, expect, it } from 'vitest';
import {
  checkExchangeAudiences,
  decideExchange,
  exchangePolicyOf,
  MAX_ACTOR_DEPTH,
  mayPresentSubject,
  parseActClaim,
  type ExchangeRequest,
} from '../../src/domain/token-exchange.ts';

const API = 'https://api.example.test/';
const NOW = 1_800_000_000;

function request(overrides: Partial<ExchangeRequest> = {}): ExchangeRequest {
  return {
    policy: { audiences: [API], impersonation: false },
    presenter: { clientId: 'agent' },
    subject: { clientId: 'agent', accountId: 'alice', audiences: [API], scope: ['read', 'write', 'openid'], exp: NOW + 600 },
    actor: { clientId: 'agent', audiences: [], scope: [], exp: NOW + 3600 },
    target: API,
    apiScopes: ['read', 'write', 'admin'],
    apiTtl: 300,
    now: NOW,
    ...overrides,
  };
}

describe('token exchange policy', () => {
  it('reads the policy from client metadata, impersonation off unless set to true', () => {
    expect(exchangePolicyOf({})).toEqual({ audiences: [], impersonation: false });
    expect(exchangePolicyOf({ tessera_token_exchange_audiences: [API, 3], tessera_token_exchange_impersonation: 'yes' })).toEqual({ audiences: [API], impersonation: false });
    expect(exchangePolicyOf({ tessera_token_exchange_impersonation: true }).impersonation).toBe(true);
  });

  it('accepts absolute URIs without fragment as audiences, a few at most', () => {
    expect(checkExchangeAudiences([API])).toBeUndefined();
    expect(checkExchangeAudiences(['relative/path'])).toMatch(/absolute URI/);
    expect(checkExchangeAudiences([`${API}#x`])).toMatch(/fragment/);
    expect(checkExchangeAudiences(Array.from({ length: 21 }, (_, i) => `${API}${i}`))).toMatch(/at most 20/);
  });

  it('lets the client a token was issued to, or the API it was issued for, present it — no one else', () => {
    const subject = request().subject;
    expect(mayPresentSubject({ clientId: 'agent' }, subject)).toBe(true);
    expect(mayPresentSubject({ clientId: 'api-client', introspects: API }, subject)).toBe(true);
    expect(mayPresentSubject({ clientId: 'other' }, subject)).toBe(false);
    expect(mayPresentSubject({ clientId: 'other', introspects: 'https://elsewhere.example.test/' }, subject)).toBe(false);
  });

  it('issues the scopes both the subject token and the API hold, with the actor as act', () => {
    expect(decideExchange(request())).toEqual({ ok: true, scope: ['read', 'write'], act: { sub: 'agent', client_id: 'agent' }, expiresIn: 300 });
  });

  it('narrows to the scopes asked for, and refuses any the subject token does not hold', () => {
    expect(decideExchange(request({ requestedScope: ['read'] }))).toMatchObject({ ok: true, scope: ['read'] });
    expect(decideExchange(request({ requestedScope: ['read', 'admin'] }))).toMatchObject({ ok: false, error: 'invalid_scope' });
    expect(decideExchange(request({ apiScopes: ['other'] }))).toMatchObject({ ok: false, error: 'invalid_scope' });
  });

  it('refuses an audience outside the policy', () => {
    expect(decideExchange(request({ target: 'https://other.example.test/' }))).toMatchObject({ ok: false, error: 'invalid_target' });
    expect(decideExchange(request({ policy: { audiences: [], impersonation: true } }))).toMatchObject({ ok: false, error: 'invalid_target' });
  });

  it('refuses impersonation unless the policy allows it; then the token carries no act', () => {
    expect(decideExchange(request({ actor: undefined }))).toMatchObject({ ok: false, error: 'invalid_request' });
    expect(decideExchange(request({ actor: undefined, policy: { audiences: [API], impersonation: true } }))).toMatchObject({ ok: true, act: undefined });
  });

  it("refuses an actor token that is not the presenter's, and a subject that is not a person", () => {
    expect(decideExchange(request({ actor: { clientId: 'someone-else', audiences: [], scope: [], exp: NOW + 60 } }))).toMatchObject({ ok: false, error: 'invalid_request' });
    expect(decideExchange(request({ subject: { ...request().subject, accountId: undefined } }))).toMatchObject({ ok: false, error: 'invalid_request' });
    expect(decideExchange(request({ presenter: { clientId: 'other' }, actor: { clientId: 'other', audiences: [], scope: [], exp: NOW + 60 } }))).toMatchObject({ ok: false, error: 'invalid_request' });
  });

  it('names a person signed in to the presenter as the actor when the actor token is theirs', () => {
    const actor = { clientId: 'agent', accountId: 'bob', audiences: [], scope: [], exp: NOW + 60 };
    expect(decideExchange(request({ actor }))).toMatchObject({ ok: true, act: { sub: 'bob', client_id: 'agent' } });
  });

  it('nests an existing actor chain inside the new actor (RFC 8693 §4.1), and keeps it under impersonation', () => {
    const subject = { ...request().subject, act: { sub: 'first', client_id: 'first' } };
    expect(decideExchange(request({ subject }))).toMatchObject({ ok: true, act: { sub: 'agent', client_id: 'agent', act: { sub: 'first', client_id: 'first' } } });
    expect(decideExchange(request({ subject, actor: undefined, policy: { audiences: [API], impersonation: true } }))).toMatchObject({ ok: true, act: { sub: 'first' } });
  });

  it('bounds the chain and refuses a malformed act', () => {
    let deep: Record<string, unknown> = { sub: 'a0' };
    for (let i = 1; i < MAX_ACTOR_DEPTH; i++) deep = { sub: `a${i}`, act: deep };
    expect(parseActClaim(deep)).not.toBe('invalid');
    expect(decideExchange(request({ subject: { ...request().subject, act: deep } }))).toMatchObject({ ok: false, error: 'invalid_request' });
    expect(parseActClaim({ sub: 1 })).toBe('invalid');
    expect(parseActClaim('agent')).toBe('invalid');
    expect(parseActClaim({ sub: 'a', act: [] })).toBe('invalid');
    expect(parseActClaim({ sub: 'a', extra: 'dropped' })).toEqual({ sub: 'a' });
  });

  it('never outlives the subject or actor token, and refuses an expired one', () => {
    expect(decideExchange(request({ subject: { ...request().subject, exp: NOW + 42 } }))).toMatchObject({ ok: true, expiresIn: 42 });
    expect(decideExchange(request({ actor: { clientId: 'agent', audiences: [], scope: [], exp: NOW + 7 } }))).toMatchObject({ ok: true, expiresIn: 7 });
    expect(decideExchange(request({ subject: { ...request().subject, exp: NOW } }))).toMatchObject({ ok: false, error: 'invalid_request' });
  });
});
