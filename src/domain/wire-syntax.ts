// Small syntax rules that several rules share, each written once.

/** One scope token (RFC 6749 §3.3: printable ASCII except space, `"` and `\`), at most 128 characters. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

export const isScopeToken = (value: string): boolean => SCOPE_TOKEN.test(value);

/**
 * Host names of the machine itself, as URL.hostname gives them. Plain http is allowed only to these (RFC 8252
 * §7.3 native-app redirects; development issuers).
 */
const LOOPBACK_HOSTNAMES: ReadonlySet<string> = new Set(['127.0.0.1', '[::1]', 'localhost']);

export const isLoopbackHostname = (hostname: string): boolean => LOOPBACK_HOSTNAMES.has(hostname);

/**
 * An http redirect URI on a loopback IP literal (RFC 8252 §7.3): a native app listens there on whatever port
 * it got, so any port must match. Not `localhost` (RFC 8252 §8.3: a name may resolve elsewhere).
 */
export function isLoopbackIpRedirect(uri: string): boolean {
  const url = URL.parse(uri);
  return url?.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === '[::1]');
}

/** A percent-encoded component decoded, or undefined when the encoding is malformed or its bytes not UTF-8. */
export function percentDecode(component: string): string | undefined {
  try {
    return decodeURIComponent(component);
  } catch {
    // Malformed percent-encoding, or percent-encoded bytes that are not UTF-8 (surrogates included).
    return undefined;
  }
}

/**
 * One application/x-www-form-urlencoded name or value decoded (`+` is a space), as form bodies, query strings
 * and — RFC 6749 §2.3.1 — the client id and secret inside HTTP Basic credentials are encoded.
 */
export const formDecode = (value: string): string | undefined => percentDecode(value.replace(/\+/g, ' '));
