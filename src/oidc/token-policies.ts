// Who may introspect or revoke which token.
import type { KoaContextWithOIDC, Client } from 'oidc-provider';
import { INTROSPECTS_PROPERTY } from '../domain/resource-servers.ts';
import { clientExtra } from './client-extras.ts';

interface TokenLike {
  clientId?: string;
  aud?: string | string[];
}

// RFC 7662 §4: a caller not entitled to a token's details receives {"active": false}. A client may
// introspect its own tokens; a resource server's client those whose audience it is — never others.
export async function introspectionAllowed(_ctx: KoaContextWithOIDC, client: Client, token: TokenLike): Promise<boolean> {
  return mayIntrospect(client, token);
}

/** The rule itself, shared with the introspection fast path (introspection-fast-path.ts). */
export function mayIntrospect(client: Client, token: TokenLike): boolean {
  if (token.clientId === client.clientId) return true;
  const audience = clientExtra(client, INTROSPECTS_PROPERTY);
  if (typeof audience !== 'string') return false;
  const audiences = Array.isArray(token.aud) ? token.aud : token.aud ? [token.aud] : [];
  return audiences.includes(audience);
}

// RFC 7009 §2.1: the server verifies the token was issued to the client making the revocation request;
// otherwise nothing is revoked (and, per §2.2, the answer is still 200).
export async function revocationAllowed(_ctx: KoaContextWithOIDC, client: Client, token: TokenLike): Promise<boolean> {
  return token.clientId === client.clientId;
}
