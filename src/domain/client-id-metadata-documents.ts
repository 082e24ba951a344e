// The pure rules of Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): which
// client_id values name a document, which hosts an operator lets Tessera fetch from, how often one host may
// make Tessera fetch, and how long a document that could not be used is remembered as such. The engine
// side (oidc-provider's clientIdMetadataDocument feature) is in oidc/client-id-metadata-documents.ts.

/** `example.com` or `*.example.com` (subdomains of it, not itself); lower case. */
const HOST_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
export const isHostPattern = (value: string): boolean => HOST_PATTERN.test(value) && value.length <= 253;

/**
 * A client_id that names a metadata document: an https URL with a path (draft §3). Everything else about the
 * URL's shape (no fragment, no credentials, no dot segments) the engine checks before it fetches.
 */
export function documentUrlOf(clientId: unknown): URL | undefined {
  if (typeof clientId !== 'string' || !clientId.startsWith('https://')) return undefined;
  const url = URL.parse(clientId);
  return url && url.protocol === 'https:' ? url : undefined;
}

export const isDocumentClientId = (clientId: unknown): boolean => documentUrlOf(clientId) !== undefined;

const matches = (host: string, pattern: string) => (pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern);

export interface HostLists {
  allowedHosts: readonly string[];
  deniedHosts: readonly string[];
}

/** Why documents on `host` may not be fetched, or undefined. The deny-list wins; an empty allow-list allows all. */
export function hostRefusal(host: string, lists: HostLists): string | undefined {
  const name = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (lists.deniedHosts.some((p) => matches(name, p))) return `${name} is not allowed to host client metadata documents here`;
  if (lists.allowedHosts.length && !lists.allowedHosts.some((p) => matches(name, p))) return `${name} is not on this server's list of client metadata document hosts`;
  return undefined;
}

/**
 * At most `limit` fetches per host per minute (a fixed window per host): a host cannot make Tessera fetch
 * without pause, nor use it to hammer another host through many client_id URLs. Returns the seconds until
 * the host may fetch again, or 0 when the fetch is allowed (and counted).
 */
export function createHostFetchBudget(limit: number, now: () => number = Date.now) {
  const windows = new Map<string, { start: number; count: number }>();
  return function take(host: string): number {
    const t = now();
    // Forget finished windows now and then, so the map holds only hosts seen within the last minute.
    if (windows.size > 1000) for (const [h, w] of windows) if (t - w.start >= 60_000) windows.delete(h);
    const current = windows.get(host);
    if (!current || t - current.start >= 60_000) {
      windows.set(host, { start: t, count: 1 });
      return 0;
    }
    if (current.count >= limit) return Math.max(1, Math.ceil((current.start + 60_000 - t) / 1000));
    current.count += 1;
    return 0;
  };
}

/**
 * Negative caching: a document that could not be used (unreachable, refused, malformed) is not fetched
 * again for `seconds`; the same refusal is answered from memory. Bounded: the oldest entries go first.
 */
export function createFailureMemory<T>(seconds: number, max = 1000, now: () => number = Date.now) {
  const failures = new Map<string, { until: number; failure: T }>();
  return {
    remember(id: string, failure: T): void {
      failures.delete(id);
      failures.set(id, { until: now() + seconds * 1000, failure });
      if (failures.size > max) failures.delete(failures.keys().next().value!);
    },
    recall(id: string): T | undefined {
      const entry = failures.get(id);
      if (!entry) return undefined;
      if (entry.until > now()) return entry.failure;
      failures.delete(id);
      return undefined;
    },
  };
}
