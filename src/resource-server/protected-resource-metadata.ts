// RFC 9728 OAuth 2.0 Protected Resource Metadata: an API says which authorization server issues its tokens
// and which scopes it knows, at /.well-known/oauth-protected-resource, and names that document in every
// 401 challenge (`WWW-Authenticate: Bearer resource_metadata="…"`, §5.1). A client that knows only the API's
// URL — an MCP client (MCP authorization, 2025-11-25) — discovers the issuer from there, then the issuer's
// own metadata (RFC 8414), and asks for a token with `resource` set to the API (RFC 8707).
//
//   const metadata = { resource: 'https://mcp.example.com/mcp', authorizationServers: [issuer], scopesSupported: ['mcp:tools'] };
//   app.use(serveProtectedResourceMetadata(metadata));
//   router.post('/mcp', requireAccess(validator, { scopes: ['mcp:tools'], resourceMetadata: protectedResourceMetadataUrl(metadata.resource) }), …);
import type { AccessDecision, AccessRequirements } from './bearer.ts';

export interface ProtectedResourceMetadataOptions {
  /** The API's resource identifier: the `aud` of its tokens, the `resource` clients ask for (RFC 8707). */
  resource: string;
  /** Issuers whose tokens the API accepts (RFC 9728 `authorization_servers`). */
  authorizationServers: string[];
  /** Scopes a client may ask for this API (`scopes_supported`); MCP clients ask for these by default. */
  scopesSupported?: string[];
  /** A human-readable name (`resource_name`). */
  resourceName?: string;
  /** Where a developer reads about the API (`resource_documentation`). */
  resourceDocumentation?: string;
  /** Seconds clients may cache the document (default 300). */
  maxAgeSeconds?: number;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

function parsedResource(resource: string): URL {
  const url = URL.parse(resource);
  // RFC 9728 §2: the resource identifier is an https URL without a fragment (http is tolerated for local use).
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.hash || resource.includes('#')) {
    throw new TypeError(`resource must be an absolute http(s) URL without a fragment, got ${resource}`);
  }
  return url;
}

/**
 * RFC 9728 §3.1: the metadata URL is the resource's origin, then the well-known path, then the resource's
 * path and query: https://mcp.example.com/mcp → https://mcp.example.com/.well-known/oauth-protected-resource/mcp.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = parsedResource(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}${WELL_KNOWN}${path}${url.search}`;
}

/** The metadata document (RFC 9728 §2) as JSON. */
export function protectedResourceMetadata(options: ProtectedResourceMetadataOptions): Record<string, unknown> {
  parsedResource(options.resource);
  if (options.authorizationServers.length === 0) throw new TypeError('authorizationServers must name at least one issuer');
  return {
    resource: options.resource,
    authorization_servers: [...options.authorizationServers],
    ...(options.scopesSupported?.length ? { scopes_supported: [...options.scopesSupported] } : {}),
    // Tokens travel in the Authorization header only (RFC 6750 §2.1); never in a query or form.
    bearer_methods_supported: ['header'],
    ...(options.resourceName ? { resource_name: options.resourceName } : {}),
    ...(options.resourceDocumentation ? { resource_documentation: options.resourceDocumentation } : {}),
  };
}

export interface MetadataResponse {
  status: 200 | 204;
  headers: Record<string, string>;
  body?: string;
}

/**
 * The answer to `method path` when it asks for this API's metadata, or undefined when it does not (the
 * framework-neutral part; the Koa middleware below only copies it onto the response). Readable from any
 * origin (CORS), since browser-based clients discover the API this way.
 */
export function protectedResourceMetadataResponse(options: ProtectedResourceMetadataOptions, method: string, pathAndQuery: string): MetadataResponse | undefined {
  const target = new URL(protectedResourceMetadataUrl(options.resource));
  if (pathAndQuery !== target.pathname + target.search && pathAndQuery !== target.pathname) return undefined;
  const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS', 'Access-Control-Allow-Headers': 'MCP-Protocol-Version' };
  if (method === 'OPTIONS') return { status: 204, headers: cors };
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const body = JSON.stringify(protectedResourceMetadata(options));
  return {
    status: 200,
    headers: { ...cors, 'Content-Type': 'application/json', 'Cache-Control': `public, max-age=${options.maxAgeSeconds ?? 300}` },
    ...(method === 'GET' ? { body } : {}),
  };
}

/** The part of a Koa context this middleware touches. */
export interface KoaLikeRequestContext {
  set(field: string, value: string): void;
  status: number;
  body: unknown;
  method: string;
  /** Path and query (Koa's ctx.url). */
  url: string;
}

/** Koa middleware: serves the metadata at its RFC 9728 URL; every other request goes on. */
export function serveProtectedResourceMetadata(options: ProtectedResourceMetadataOptions) {
  protectedResourceMetadata(options); // refuse a bad configuration at start, not at the first request
  return async function protectedResourceMetadataMiddleware(ctx: KoaLikeRequestContext, next: () => Promise<unknown>): Promise<void> {
    const answer = protectedResourceMetadataResponse(options, ctx.method, ctx.url);
    if (!answer) {
      await next();
      return;
    }
    for (const [name, value] of Object.entries(answer.headers)) ctx.set(name, value);
    ctx.status = answer.status;
    if (answer.body !== undefined) ctx.body = answer.body;
  };
}

const quoted = (v: string) => `"${v.replace(/["\\]/g, '')}"`;

/**
 * Adds RFC 9728 §5.1 `resource_metadata` to a refusal's challenge, and — on a 401, where RFC 6750 names no
 * scope — the scopes the route needs as a `scope` hint (MCP: clients ask for exactly these). A 403
 * insufficient_scope already carries its `scope`. Other decisions are returned unchanged.
 */
export function announceResourceMetadata(decision: AccessDecision, requirements: AccessRequirements): AccessDecision {
  const url = requirements.resourceMetadata;
  const challenge = decision.ok ? undefined : decision.headers['WWW-Authenticate'];
  if (decision.ok || !url || !challenge) return decision;
  const params = [`resource_metadata=${quoted(url)}`];
  const scopes = requirements.scopes ?? [];
  if (decision.status === 401 && scopes.length && !/(^|[\s,])scope=/.test(challenge)) params.push(`scope=${quoted(scopes.join(' '))}`);
  // Insert right after the first challenge's scheme, so the parameters stay with the Bearer challenge.
  const space = challenge.indexOf(' ');
  const withMetadata = space === -1 ? `${challenge} ${params.join(', ')}` : `${challenge.slice(0, space)} ${params.join(', ')}, ${challenge.slice(space + 1)}`;
  return { ...decision, headers: { ...decision.headers, 'WWW-Authenticate': withMetadata } };
}
