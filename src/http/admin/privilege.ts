// No caller hands out a privilege it does not hold (RFC 9700 §2.3, least privilege). A token with
// `admin:clients:write` manages clients, but a client carrying admin scopes — creating one, or changing,
// re-keying or removing an existing one — needs a token that holds those scopes itself; giving accounts
// roles through an upstream's default roles needs `admin:users:write`, as giving them directly does.
import { AppError } from '../../errors.ts';
import { scopeAllows, type AdminScope } from '../../domain/admin-scopes.ts';
import { scopesBeyond, splitScope } from '../../domain/scope-privileges.ts';
import type { Caller } from './route.ts';

function refuse(description: string): never {
  throw new AppError(403, 'insufficient_scope', description);
}

/** Refuses when `scope` (a client's, space-separated) carries privileges the caller lacks. */
export function requireHoldsScopes(caller: Caller | undefined, scope: unknown, action: string): void {
  const beyond = scopesBeyond(caller?.scopes ?? [], splitScope(scope));
  if (beyond.length) refuse(`${action} a client with scope ${beyond.join(' ')} needs a token that holds ${beyond.length > 1 ? 'them' : 'it'}`);
}

export function requireScope(caller: Caller | undefined, required: AdminScope, action: string): void {
  if (!scopeAllows(caller?.scopes ?? [], required)) refuse(`${action} needs scope ${required} as well`);
}
