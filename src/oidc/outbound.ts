// Outgoing requests of the engine: one switch per purpose. The engine hands every request to the `fetch`
// configuration hook with its own undici dispatcher, which destroys connections to loopback, private,
// link-local and other special-use addresses (oidc-provider lib/helpers/fetch_request.js): SSRF protection.
// Dropping that dispatcher lifts the guard, and who chose the URL decides whether that may be allowed:
// - back-channel logout: a logout token POSTed to a client's backchannel_logout_uri (lib/models/client.js
//   backchannelLogout, also reached from oidc/backchannel.ts) — apps the operators run, often on a private
//   network: BACKCHANNEL_LOGOUT_ALLOW_PRIVATE (formerly OUTBOUND_ALLOW_PRIVATE);
// - every other request: a document that client metadata names — jwks_uri, sector_identifier_uri, client ID
//   metadata documents — a URL that anyone allowed to register chooses: REGISTRATION_FETCH_ALLOW_PRIVATE.
// The hook sees no client, so a logout is recognised by its shape: a POST of a form carrying logout_token.
// A metadata fetch is a GET the registrant cannot reshape; anything the engine might send in another shape
// falls under the registration switch.
import { BlockList, isIP } from 'node:net';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

export interface OutboundSwitches {
  backchannelLogoutAllowPrivate: boolean;
  registrationFetchAllowPrivate: boolean;
}

type EngineFetch = NonNullable<Configuration['fetch']>;
type FetchOptions = RequestInit & { dispatcher?: unknown };

export type OutboundPurpose = 'backchannel logout' | 'client metadata';

export function purposeOf(options: FetchOptions): OutboundPurpose {
  const isLogout = options.method === 'POST' && options.body instanceof URLSearchParams && options.body.has('logout_token');
  return isLogout ? 'backchannel logout' : 'client metadata';
}

/** The engine's `fetch` hook: its guard kept, or dropped for a purpose whose switch is on. */
export function createEngineFetch(switches: OutboundSwitches): EngineFetch {
  return (url, options = {}) => {
    const purpose = purposeOf(options as FetchOptions);
    const allowPrivate = purpose === 'backchannel logout' ? switches.backchannelLogoutAllowPrivate : switches.registrationFetchAllowPrivate;
    if (!allowPrivate) return globalThis.fetch(url, options);
    const { dispatcher: _guard, ...unguarded } = options as FetchOptions;
    return globalThis.fetch(url, unguarded);
  };
}

// The special-use ranges of oidc-provider's guard that a URL can name literally.
const SPECIAL_USE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['240.0.0.0', 4],
] as const) SPECIAL_USE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10]] as const) {
  SPECIAL_USE.addSubnet(net, prefix, 'ipv6');
}

/** Why the URL names a loopback or private host outright (an IP literal or localhost), or undefined. */
export function namesPrivateHost(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return undefined; // not a URL: the metadata rules refuse it
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is loopback`;
  const family = isIP(host);
  if (family && SPECIAL_USE.check(host, family === 4 ? 'ipv4' : 'ipv6')) return `${host} is a loopback, private or reserved address`;
  return undefined;
}

const FETCHED_FIELDS = ['jwks_uri', 'sector_identifier_uri'] as const;
const REGISTRANT_ROUTES = new Set(['registration', 'client_update']);

type Validator = NonNullable<NonNullable<Configuration['extraClientMetadata']>['validator']>;

/**
 * Wraps the engine's extraClientMetadata.validator: unless REGISTRATION_FETCH_ALLOW_PRIVATE is on, a
 * registration (RFC 7591) or update (RFC 7592) whose jwks_uri or sector_identifier_uri names a private host
 * outright is refused at once with invalid_client_metadata — the guard would stop the fetch anyway, later and
 * less clearly (the jwks_uri is only fetched at the client's first signed request). Host names that resolve to
 * private addresses are left to the guard, which checks the address connected to.
 */
export function refusePrivateMetadataUris(validator: Validator, switches: OutboundSwitches, firstProperty: string): Validator {
  if (switches.registrationFetchAllowPrivate) return validator;
  return (ctx: KoaContextWithOIDC | undefined, key, value, metadata) => {
    if (key === firstProperty && ctx && REGISTRANT_ROUTES.has(ctx.oidc?.route)) {
      for (const field of FETCHED_FIELDS) {
        const uri = metadata[field];
        const problem = typeof uri === 'string' ? namesPrivateHost(uri) : undefined;
        if (problem) throw new errors.InvalidClientMetadata(`${field} must not point at a private network address (${problem})`);
      }
    }
    return validator(ctx, key, value, metadata);
  };
}
