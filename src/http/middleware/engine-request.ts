// Prepares a request for the engine.
// - Host: the engine builds endpoint URLs (discovery, redirects) from the request's host, so a forged Host
//   header would advertise foreign endpoints (cache poisoning). The engine only ever sees the issuer's host.
// - Bodies without Content-Length (chunked): read here with the size limit so an oversized one is refused
//   with 413 like any other, then replayed to the engine as a sized stream. (Form and JSON bodies arrive
//   already read and replayed by hostile-input.ts, which uses the same two functions.)
// - JWT access tokens at introspection and revocation: the engine refuses structured tokens there, so the
//   token is handed over as `jwt:<token>`, which the adapter verifies (oidc/jwt-access-tokens.ts).
// - `offline_access` in a refresh request's scope is dropped: it names the kind of token being used, not
//   something an access token carries, and the engine records it on a grant only after prompt=consent
//   (OpenID Connect Core §11). Clients that ask for it again when refreshing (mod_auth_openidc, Authlib,
//   oidc-agent) would otherwise be refused with invalid_scope although they hold a valid refresh token.
// - HTTP Basic with an empty secret at the token endpoints and the device authorization endpoint (public
//   clients such as oidc-agent): handed on as client_id in the body (empty-basic-secret.ts).
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { PayloadTooLarge } from '../../errors.ts';
import { looksLikeJwt } from '../../domain/access-token-verifier.ts';
import { INTROSPECTION_PATH, REVOCATION_PATH } from '../../oidc/provider.ts';
import { JWT_HANDLE_PREFIX } from '../../oidc/jwt-access-tokens.ts';
import { DEVICE_AUTHORIZATION_PATH } from '../../oidc/device-flow.ts';
import { dropEmptyBasicSecret } from './empty-basic-secret.ts';

export function pinHost(req: IncomingMessage, issuer: URL): void {
  req.headers.host = issuer.host;
  delete req.headers['x-forwarded-host'];
}

/** The whole body, refused with 413 beyond `limitBytes`. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new PayloadTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const RAW_BODY = 'tessera.rawBody';

/** Remembers a body already read (hostile-input.ts) so later steps parse it without reading it again. */
export function keepRawBody(ctx: Context, body: Buffer): void {
  ctx.state[RAW_BODY] = body;
}

/** The body kept by keepRawBody, if any. */
export function rawBody(ctx: Context): Buffer | undefined {
  const body: unknown = ctx.state[RAW_BODY];
  return Buffer.isBuffer(body) ? body : undefined;
}

/** A stand-in for `req` that yields `body` (already read) with a matching Content-Length. */
export function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const headers = { ...req.headers, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  return Object.assign(Readable.from([body]), {
    headers,
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    socket: req.socket,
    connection: req.socket,
    complete: true,
  }) as unknown as IncomingMessage;
}

const TOKEN_ENDPOINTS = new Set([INTROSPECTION_PATH, REVOCATION_PATH]);
const TOKEN_PATH = '/token';

/** The form the engine should see instead, or undefined to pass the body on unchanged. */
function rewriteForm(path: string, form: URLSearchParams): URLSearchParams | undefined {
  if (TOKEN_ENDPOINTS.has(path)) {
    const tokens = form.getAll('token');
    if (tokens.length !== 1 || !looksLikeJwt(tokens[0]!)) return undefined;
    form.set('token', `${JWT_HANDLE_PREFIX}${tokens[0]}`);
    return form;
  }
  if (path === TOKEN_PATH && form.get('grant_type') === 'refresh_token' && form.getAll('scope').length === 1) {
    const scopes = form.get('scope')!.split(' ');
    if (!scopes.includes('offline_access')) return undefined;
    const rest = scopes.filter((s) => s !== 'offline_access');
    if (rest.length) form.set('scope', rest.join(' '));
    else form.delete('scope');
    return form;
  }
  return undefined;
}

export async function prepareEngineRequest(ctx: Context, limitBytes: number): Promise<IncomingMessage> {
  const req = ctx.req;
  const rewritable =
    ctx.method === 'POST' && (TOKEN_ENDPOINTS.has(ctx.path) || ctx.path === TOKEN_PATH || ctx.path === DEVICE_AUTHORIZATION_PATH) && ctx.is('application/x-www-form-urlencoded');
  const chunked = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] !== undefined;
  if (!rewritable && !chunked) return req;
  const kept = rawBody(ctx);
  const body = kept ?? (await readBody(req, limitBytes));
  const form = rewritable ? new URLSearchParams(body.toString('utf8')) : undefined;
  let rewritten = form && rewriteForm(ctx.path, form);
  // Public clients sending Basic with an empty secret (oidc-agent): see empty-basic-secret.ts.
  if (form && dropEmptyBasicSecret(req, form)) rewritten = form;
  // A replay nothing has read yet (hostile-input.ts made it) can go to the engine as it is.
  if (!rewritten && kept && !req.readableDidRead) return req;
  return replay(req, rewritten ? Buffer.from(rewritten.toString()) : body);
}
