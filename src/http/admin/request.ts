// Reading an admin API request: the JSON body (size-limited, content type checked) and the zod parsing of
// path, query and body, each failure with its own status and the failing fields in `details`.
import type { Context } from 'koa';
import type { z } from 'zod';
import { AppError, InvalidInput, PayloadTooLarge, type Detail } from '../../errors.ts';
import { findHostileString } from '../middleware/hostile-input.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const HOSTILE_MESSAGE = 'must not contain a NUL character or an unpaired surrogate';

function hasBody(ctx: Context): boolean {
  return (ctx.request.length ?? 0) > 0 || ctx.get('transfer-encoding') !== '';
}

/** The parsed JSON body, or undefined when the request has none. */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  if (!hasBody(ctx)) return undefined;
  if (!ctx.is('application/json', '+json')) throw new AppError(415, 'invalid_request', 'the request body must be application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buf.length;
    if (size > limitBytes) throw new PayloadTooLarge();
    chunks.push(buf);
  }
  let text: string;
  try {
    text = utf8.decode(Buffer.concat(chunks));
  } catch {
    throw new InvalidInput(400, 'the request body is not valid UTF-8', []);
  }
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidInput(400, `the request body is not valid JSON: ${(error as Error).message}`, []);
  }
  // The same rule as the host's edge (middleware/hostile-input.ts), for every string of every route's body.
  const at = findHostileString(parsed);
  if (at) {
    const field = at.length > 8 ? `${at.slice(0, 8).join('.')}…` : at.join('.');
    throw new InvalidInput(400, `body${at.length ? ` field ${field}` : ''}: ${HOSTILE_MESSAGE}`, [{ path: at, message: HOSTILE_MESSAGE }]);
  }
  return parsed;
}

/**
 * Parses `value` with `schema`. Path and query problems are a malformed request (400); a body that is JSON
 * but not what the route accepts is 422 (RFC 9110 §15.5.21).
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: 'path' | 'query' | 'body'): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues.flatMap((issue): Detail[] => {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    // One entry per unknown field, at its own path (zod reports them together, at the object).
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown field' }));
    return [{ path, message: issue.message }];
  });
  const first = details[0]!;
  const description = `${where}${first.path.length ? ` field ${first.path.join('.')}` : ''}: ${first.message}${details.length > 1 ? ` (and ${details.length - 1} more)` : ''}`;
  throw new InvalidInput(where === 'body' ? 422 : 400, description, details);
}
