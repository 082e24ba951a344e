// Prepares a request for the engine.
// - Host: the engine builds endpoint URLs (discovery, redirects) from the request's host, so a forged Host
//   header would advertise foreign endpoints (cache poisoning). The engine only ever sees the issuer's host.
// - Bodies without Content-Length (chunked): read here with the size limit so an oversized one is refused
//   with 413 like any other, then replayed to the engine as a sized stream. (Form and JSON bodies arrive
//   already read and replayed by hostile-input.ts, which uses the same two functions.)
// - JWT access tokens at introspection and revocation: the engine refuses structured tokens there, so the
//   token is handed over as `jwt:<token>`, which the adapter verifies (oidc/jwt-access-tokens.ts).
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { PayloadTooLarge } from '../../errors.ts';
import { looksLikeJwt } from '../../domain/access-token-verifier.ts';
import { INTROSPECTION_PATH, REVOCATION_PATH } from '../../oidc/provider.ts';
import { JWT_HANDLE_PREFIX } from '../../oidc/jwt-access-tokens.ts';

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

export async function prepareEngineRequest(ctx: Context, limitBytes: number): Promise<IncomingMessage> {
  const req = ctx.req;
  const carriesToken = ctx.method === 'POST' && TOKEN_ENDPOINTS.has(ctx.path) && ctx.is('application/x-www-form-urlencoded');
  const chunked = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] !== undefined;
  if (!carriesToken && !chunked) return req;
  const body = await readBody(req, limitBytes);
  if (!carriesToken) return replay(req, body);
  const form = new URLSearchParams(body.toString('utf8'));
  const tokens = form.getAll('token');
  if (tokens.length !== 1 || !looksLikeJwt(tokens[0]!)) return replay(req, body);
  form.set('token', `${JWT_HANDLE_PREFIX}${tokens[0]}`);
  return replay(req, Buffer.from(form.toString()));
}
