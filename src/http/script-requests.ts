// A page script's own request (views/assets/passkeys.js asking for WebAuthn options): a JSON POST carrying
// the page's CSRF token. JSON is required, so a cross-site HTML form cannot send one (it would need a CORS
// preflight, which this server never grants), and the token is checked as for every form post.
import type { Context } from 'koa';
import { z } from 'zod';
import { BadRequest } from '../errors.ts';
import { assertCsrf } from './middleware/csrf.ts';
import { rawBody, readBody } from './middleware/engine-request.ts';

const SCRIPT_REQUEST = z.object({ csrf: z.string().max(128) });

export async function readScriptRequest(ctx: Context, limitBytes: number): Promise<void> {
  if (!ctx.is('application/json')) throw new BadRequest('this request must be JSON');
  const body = rawBody(ctx) ?? (await readBody(ctx.req, limitBytes));
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadRequest('the request body is not JSON');
  }
  const parsed = SCRIPT_REQUEST.safeParse(value);
  assertCsrf(ctx, new URLSearchParams(parsed.success ? { csrf: parsed.data.csrf } : {}));
}
