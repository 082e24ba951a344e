// Prepares a request for the engine.
// - Host: the engine builds endpoint URLs (discovery, redirects) from the request's host, so a forged Host
//   header would advertise foreign endpoints (cache poisoning). The engine only ever sees the issuer's host.
// - Bodies without Content-Length (chunked): read here with the size limit so an oversized one is refused
//   with 413 like any other, then replayed to the engine as a sized stream.
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { PayloadTooLarge } from '../../errors.ts';

export function pinHost(req: IncomingMessage, issuer: URL): void {
  req.headers.host = issuer.host;
  delete req.headers['x-forwarded-host'];
}

export async function sizedRequest(ctx: Context, limitBytes: number): Promise<IncomingMessage> {
  const req = ctx.req;
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] === undefined) return req;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new PayloadTooLarge();
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
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
