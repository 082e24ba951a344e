// Who may hand out which scope (domain/scope-privileges.ts, domain/admin-scopes.ts): pure rules.
import { describe, expect, it } from 'vitest';
import { isPrivilegedScope, scopesBeyond, splitScope } from '../../src/domain/scope-privileges.ts';
import { impliedAdminScopes, scopeAllows } from '../../src/domain/admin-scopes.ts';

describe('privileged scopes', () => {
  it('are the admin namespace and the revocation feed, nothing else', () => {
    expect(['admin:*', 'admin:users:read', 'admin:anything', 'revocations:read'].every(isPrivilegedScope)).toBe(true);
    expect(['openid', 'invoices:read', 'administrator', 'revocations:write', 'x:admin:y'].some(isPrivilegedScope)).toBe(false);
  });

  it('are handed out only by a holder: admin:* covers all, a write scope its read scope, never the other way', () => {
    expect(scopesBeyond(['admin:*'], ['admin:users:write', 'admin:keys:read', 'revocations:read', 'admin:future'])).toEqual([]);
    expect(scopesBeyond(['admin:clients:write'], ['admin:clients:read', 'admin:clients:write', 'openid'])).toEqual([]);
    expect(scopesBeyond(['admin:clients:read'], ['admin:clients:write'])).toEqual(['admin:clients:write']);
    expect(scopesBeyond(['admin:clients:write'], ['admin:*', 'admin:users:read', 'revocations:read', 'admin:unknown'])).toEqual([
      'admin:*',
      'admin:users:read',
      'revocations:read',
      'admin:unknown',
    ]);
  });

  it('splits a scope string on any whitespace and ignores what is not a string', () => {
    expect(splitScope(' openid  profile\tadmin:* ')).toEqual(['openid', 'profile', 'admin:*']);
    expect(splitScope(undefined)).toEqual([]);
    expect(splitScope(['admin:*'])).toEqual([]);
  });
});

describe('admin scope implications', () => {
  it('lets a write scope read, and admin:* do anything', () => {
    expect(scopeAllows(['admin:users:write'], 'admin:users:read')).toBe(true);
    expect(scopeAllows(['admin:users:read'], 'admin:users:write')).toBe(false);
    expect(scopeAllows(['admin:*'], 'admin:keys:write')).toBe(true);
    expect(scopeAllows(['admin:clients:write'], 'admin:users:read')).toBe(false);
  });

  it('lets a broad client ask for a narrower token, never a wider one', () => {
    expect(impliedAdminScopes(['admin:users:write', 'openid'])).toEqual(['admin:users:read', 'admin:users:write']);
    expect(impliedAdminScopes(['invoices:read'])).toEqual([]);
  });
});
