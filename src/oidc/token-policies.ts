// Who may introspect or revoke which token. Until resource servers get an introspection permission (with
// audience isolation), a client learns about and revokes only the tokens issued to it.
import type { KoaContextWithOIDC, Client } from 'oidc-provider';

interface TokenLike {
  clientId?: string;
}

// RFC 7662 §4: the server must not reveal token details to a caller not entitled to them; such callers
// receive {"active": false}.
export async function introspectionAllowed(_ctx: KoaContextWithOIDC, client: Client, token: TokenLike): Promise<boolean> {
  return token.clientId === client.clientId;
}

// RFC 7009 §2.1: the server verifies the token was issued to the client making the revocation request;
// otherwise nothing is revoked (and, per §2.2, the answer is still 200).
export async function revocationAllowed(_ctx: KoaContextWithOIDC, client: Client, token: TokenLike): Promise<boolean> {
  return token.clientId === client.clientId;
}
