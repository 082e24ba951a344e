// Issuer metadata (OpenID Connect Discovery 1.0 / RFC 8414): where the keys, the token endpoint and the
// introspection endpoint are. Fetched once and kept; after a failure the next caller retries, at most once
// a second (an unreachable issuer is not hammered by every incoming request).
import { IssuerRequestError, requestJson } from './http.ts';
import type { FetchFunction } from './types.ts';

export interface IssuerMetadata {
  issuer: string;
  jwks_uri: string;
  token_endpoint: string;
  introspection_endpoint?: string;
}

export function wellKnownUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

const RETRY_AFTER_MS = 1000;

export function createDiscovery(options: { issuer: string; fetch: FetchFunction; timeoutMs: number }) {
  let pending: Promise<IssuerMetadata> | undefined;

  async function load(): Promise<IssuerMetadata> {
    const url = wellKnownUrl(options.issuer);
    const doc = await requestJson(url, { fetch: options.fetch, timeoutMs: options.timeoutMs });
    // OpenID Connect Discovery §4.3 / RFC 8414 §3.3: the document must name exactly the issuer asked for,
    // or an attacker controlling the document could substitute its own keys under our issuer's name.
    if (doc.issuer !== options.issuer) throw new IssuerRequestError(`${url} names issuer ${JSON.stringify(doc.issuer)}, expected ${options.issuer}`);
    for (const field of ['jwks_uri', 'token_endpoint'] as const) {
      if (typeof doc[field] !== 'string') throw new IssuerRequestError(`${url} has no ${field}`);
    }
    return {
      issuer: options.issuer,
      jwks_uri: doc.jwks_uri as string,
      token_endpoint: doc.token_endpoint as string,
      ...(typeof doc.introspection_endpoint === 'string' ? { introspection_endpoint: doc.introspection_endpoint } : {}),
    };
  }

  return {
    /** The issuer's metadata; rejects with IssuerRequestError while it cannot be fetched. */
    get(): Promise<IssuerMetadata> {
      if (!pending) {
        pending = load();
        const failed = pending;
        failed.catch(() => {
          setTimeout(() => {
            if (pending === failed) pending = undefined;
          }, RETRY_AFTER_MS).unref();
        });
      }
      return pending;
    },
  };
}

export type Discovery = ReturnType<typeof createDiscovery>;
