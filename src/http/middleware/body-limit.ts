// Refuse oversized bodies up front with 413 (the engine would otherwise answer 400 for them).
import type { Middleware } from 'koa';
import { PayloadTooLarge } from '../../errors.ts';

/** `except`: path prefixes whose routes read bodies with the same limit themselves (and answer in their own shape). */
export function bodyLimit(limitBytes: number, options: { except?: readonly string[] } = {}): Middleware {
  const except = options.except ?? [];
  return async (ctx, next) => {
    if (except.some((prefix) => ctx.path.startsWith(prefix))) return next();
    const length = Number(ctx.get('content-length') || 0);
    if (length > limitBytes) throw new PayloadTooLarge();
    await next();
  };
}

/** Reads and parses an application/x-www-form-urlencoded body with a size limit. */
export async function readForm(ctx: { req: NodeJS.ReadableStream; is(type: string): string | false | null }, limitBytes: number): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += buf.length;
    if (size > limitBytes) throw new PayloadTooLarge();
    chunks.push(buf);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
