// Token introspection (RFC 7662): every call asks the issuer, so a revoked token is refused at once —
// at the price of one round trip per request and of depending on the issuer being up. Nothing is cached
// (a cache would reintroduce the very delay this mode exists to avoid). Works for opaque tokens too.
import { basicAuthorization, IssuerRequestError, requestJson } from './http.ts';
import { MAX_TOKEN_LENGTH } from './local-verifier.ts';
import type { Discovery } from './discovery.ts';
import type { AccessTokenClaims, FetchFunction, ValidationResult } from './types.ts';

export interface IntrospectorOptions {
  issuer: string;
  audience: string;
  clientId: string;
  clientSecret: string;
  clockToleranceSeconds: number;
  timeoutMs: number;
  discovery: Discovery;
  fetch: FetchFunction;
}

export function createIntrospector(options: IntrospectorOptions) {
  async function endpoint(): Promise<string> {
    const metadata = await options.discovery.get();
    if (!metadata.introspection_endpoint) throw new IssuerRequestError(`issuer ${options.issuer} advertises no introspection_endpoint`);
    return metadata.introspection_endpoint;
  }

  return {
    async warmUp(): Promise<void> {
      await endpoint();
    },

    async verify(token: string): Promise<ValidationResult> {
      if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed', detail: 'token is too long' };
      let answer: Record<string, unknown>;
      try {
        answer = await requestJson(await endpoint(), {
          fetch: options.fetch,
          timeoutMs: options.timeoutMs,
          headers: { authorization: basicAuthorization(options.clientId, options.clientSecret) },
          form: { token, token_type_hint: 'access_token' },
        });
      } catch (error) {
        return { ok: false, reason: 'unavailable', detail: `introspection failed: ${(error as Error).message}` };
      }
      // RFC 7662 §2.2: anything but active:true — including a token we may not see — is inactive.
      if (answer.active !== true) return { ok: false, reason: 'inactive', detail: 'the issuer reports the token inactive' };
      const { active: _active, token_type: _type, ...claims } = answer;
      const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!audiences.includes(options.audience)) return { ok: false, reason: 'wrong_audience', detail: `token audience ${JSON.stringify(claims.aud)}` };
      if (claims.iss !== undefined && claims.iss !== options.issuer) return { ok: false, reason: 'wrong_issuer', detail: `token issuer ${JSON.stringify(claims.iss)}` };
      if (typeof claims.exp === 'number' && claims.exp <= Date.now() / 1000 - options.clockToleranceSeconds) return { ok: false, reason: 'expired' };
      return { ok: true, claims: claims as AccessTokenClaims };
    },
  };
}

export type Introspector = ReturnType<typeof createIntrospector>;
