// The in-memory revocations answer as the revocations table does (domain/revocation-state.ts).
import { describe, expect, it } from 'vitest';
import { createRevocationState } from '../../src/domain/revocation-state.ts';

const at = (iso: string) => new Date(iso);
const event = (id: number, type: string, fields: { jti?: string; grantId?: string; clientId?: string }, occurredAt = '2026-12-01T10:00:00.500Z', expiresAt = '2026-12-01T11:00:00Z') => ({
  id: String(id),
  type,
  jti: fields.jti ?? null,
  grantId: fields.grantId ?? null,
  clientId: fields.clientId ?? null,
  occurredAt: at(occurredAt),
  expiresAt: at(expiresAt),
});
const second = (iso: string) => Math.floor(at(iso).getTime() / 1000);

describe('revocation state', () => {
  it('revokes by jti and by grant, whatever else the token says', () => {
    const state = createRevocationState();
    state.apply([event(1, 'token-revoked', { jti: 'j1' }), event(2, 'session-revoked', { grantId: 'g1' })]);
    expect(state.isRevoked({ jti: 'j1', clientId: 'c', issuedAt: 0 })).toBe(true);
    expect(state.isRevoked({ jti: 'j2', grantId: 'g1', clientId: 'c', issuedAt: 0 })).toBe(true);
    expect(state.isRevoked({ jti: 'j2', grantId: 'g2', clientId: 'c', issuedAt: 0 })).toBe(false);
    expect(state.lastId).toBe(2n);
  });

  it('revokes a client\'s tokens issued in or before the second of its latest revocation, not after', () => {
    const state = createRevocationState();
    state.apply([event(1, 'client-disabled', { clientId: 'c' }, '2026-12-01T10:00:00.500Z'), event(2, 'client-disabled', { clientId: 'c' }, '2026-12-01T10:05:00.250Z')]);
    expect(state.isRevoked({ jti: 'x', clientId: 'c', issuedAt: second('2026-12-01T10:05:00Z') })).toBe(true);
    expect(state.isRevoked({ jti: 'x', clientId: 'c', issuedAt: second('2026-12-01T10:05:01Z') })).toBe(false);
    expect(state.isRevoked({ jti: 'x', clientId: 'other', issuedAt: 0 })).toBe(false);
  });

  it('applies each event once, in id order, and forgets entries once their tokens have expired', () => {
    const state = createRevocationState();
    state.apply([event(5, 'token-revoked', { jti: 'j5' }, undefined, '2026-12-01T10:10:00Z')]);
    state.apply([event(4, 'token-revoked', { jti: 'j4' })]);
    expect(state.isRevoked({ jti: 'j4', clientId: 'c', issuedAt: 0 })).toBe(false);
    state.advanceTo(3n);
    expect(state.lastId).toBe(5n);
    state.prune(at('2026-12-01T10:10:00Z').getTime());
    expect(state.isRevoked({ jti: 'j5', clientId: 'c', issuedAt: 0 })).toBe(false);
    expect(state.size).toBe(0);
  });
});
