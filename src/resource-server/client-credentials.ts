// The bearer token with which the feed follower reads the revocation feed: client_credentials of the API's
// introspection client for the feed audience (`${issuer}/revocations`, scope revocations:read). Kept until
// shortly before it expires, or until the feed refuses it.
import { basicAuthorization, IssuerRequestError, requestJson } from './http.ts';
import type { Discovery } from './discovery.ts';
import type { FetchFunction } from './types.ts';

export const FEED_SCOPE = 'revocations:read';
/** A token is renewed this long before it expires. */
const RENEW_BEFORE_MS = 30_000;

export interface TokenSourceOptions {
  clientId: string;
  clientSecret: string;
  resource: string;
  scope: string;
  timeoutMs: number;
  discovery: Discovery;
  fetch: FetchFunction;
}

export function createClientCredentialsToken(options: TokenSourceOptions) {
  let current: { value: string; renewAt: number } | undefined;

  return {
    async get(signal?: AbortSignal): Promise<string> {
      if (current && Date.now() < current.renewAt) return current.value;
      const { token_endpoint } = await options.discovery.get();
      const answer = await requestJson(token_endpoint, {
        fetch: options.fetch,
        timeoutMs: options.timeoutMs,
        signal,
        headers: { authorization: basicAuthorization(options.clientId, options.clientSecret) },
        form: { grant_type: 'client_credentials', resource: options.resource, scope: options.scope },
      });
      if (typeof answer.access_token !== 'string') throw new IssuerRequestError(`${token_endpoint} returned no access_token`);
      const lifetimeMs = (typeof answer.expires_in === 'number' ? answer.expires_in : 60) * 1000;
      current = { value: answer.access_token, renewAt: Date.now() + Math.max(lifetimeMs - RENEW_BEFORE_MS, lifetimeMs / 2) };
      return current.value;
    },

    /** Forget the token (the feed refused it); the next get() fetches a new one. */
    invalidate(): void {
      current = undefined;
    },
  };
}

export type ClientCredentialsToken = ReturnType<typeof createClientCredentialsToken>;
