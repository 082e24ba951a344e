// Hostile bytes get 400, never 500 (docs/security.md, "Input the server refuses at the edge"). PostgreSQL
// text cannot hold NUL (SQLSTATE 22021), and a value the database, the engine or a template cannot represent
// should never travel further than the edge. So before any router or the engine sees a request, this refuses
// with 400 invalid_request (JSON, or the HTML error page for browsers: error-handler.ts decides by Accept) a
// request whose
//   - path, once percent-decoded,
//   - query parameter names or values,
//   - application/x-www-form-urlencoded body fields,
//   - JSON body strings (values and member names), or
//   - HTTP Basic credentials (base64, then form-encoded: RFC 6749 §2.3.1)
// hold a NUL, an unpaired UTF-16 surrogate, malformed percent-encoding or bytes that are not UTF-8.
// Decoding here is strict on purpose: Node's own parsers quietly turn such input into U+FFFD or pass NUL on.
//
// A body this reads is handed on as a sized replay of the same bytes (ctx.req), which the host's form
// readers and the engine (prepareEngineRequest) read as if it were the original request.
// The admin API (`except`) applies the same rules itself, in its own error shape: requestLineProblem before its
// schemas (http/admin/router.ts), findHostileString on its JSON bodies (http/admin/request.ts).
import type { Context, Middleware } from 'koa';
import { BadRequest } from '../../errors.ts';
import { isRepresentableText } from '../../representable.ts';
import { formDecode, percentDecode } from '../../domain/wire-syntax.ts';
import { keepRawBody, readBody, replay } from './engine-request.ts';

/** Whether a decoded string holds a NUL or an unpaired surrogate (src/representable.ts). */
export const isHostileText = (value: string): boolean => !isRepresentableText(value);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Why `encoded` (a path, a query string, a form body) is refused, or undefined when it is acceptable. */
function formProblem(encoded: string, form: boolean): string | undefined {
  for (const part of form ? encoded.split('&') : [encoded]) {
    const decoded = form ? formDecode(part) : percentDecode(part);
    if (decoded === undefined) return 'malformed percent-encoding or bytes that are not UTF-8';
    if (isHostileText(decoded)) return 'a NUL character or an unpaired surrogate';
  }
  return undefined;
}

interface Visit {
  value: unknown;
  key: string | number | undefined;
  parent: Visit | undefined;
}

function pathOf(visit: Visit | undefined, last?: string): Array<string | number> {
  const path: Array<string | number> = last === undefined ? [] : [last];
  for (let v = visit; v && v.key !== undefined; v = v.parent) path.unshift(v.key);
  return path;
}

/**
 * The first string in a parsed JSON value (member names included) that holds a hostile character, as its
 * path; undefined when there is none. Iterative and linear (each value points to its parent), so neither
 * deep nesting nor a wide body can exhaust the stack or the memory.
 */
export function findHostileString(value: unknown): Array<string | number> | undefined {
  const pending: Visit[] = [{ value, key: undefined, parent: undefined }];
  while (pending.length) {
    const visit = pending.pop()!;
    const item = visit.value;
    if (typeof item === 'string') {
      if (isHostileText(item)) return pathOf(visit);
    } else if (Array.isArray(item)) {
      item.forEach((v, i) => pending.push({ value: v, key: i, parent: visit }));
    } else if (item && typeof item === 'object') {
      for (const [k, v] of Object.entries(item)) {
        if (isHostileText(k)) return pathOf(visit, k);
        pending.push({ value: v, key: k, parent: visit });
      }
    }
  }
  return undefined;
}

function basicProblem(header: string): string | undefined {
  const match = /^basic\s+(.*)$/is.exec(header.trim());
  if (!match) return undefined;
  const decoded = strictUtf8(Buffer.from(match[1]!.trim(), 'base64'));
  if (decoded === undefined) return 'bytes that are not UTF-8';
  const colon = decoded.indexOf(':');
  const parts = colon < 0 ? [decoded] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
  for (const part of parts) {
    const problem = formProblem(part, true);
    if (problem) return problem;
  }
  return undefined;
}

function refuse(where: string, problem: string): never {
  throw new BadRequest(`the ${where} holds ${problem}`);
}

/**
 * What is wrong with the path, the query string or Basic credentials of a request, as a sentence, or
 * undefined. The admin API calls this too, to answer in its own error shape.
 */
export function requestLineProblem(ctx: Pick<Context, 'path' | 'querystring' | 'get'>): string | undefined {
  const pathProblem = formProblem(ctx.path, false);
  if (pathProblem) return `the path holds ${pathProblem}`;
  const queryProblem = ctx.querystring ? formProblem(ctx.querystring, true) : undefined;
  if (queryProblem) return `the query string holds ${queryProblem}`;
  const authorization = ctx.get('authorization');
  const credentialsProblem = authorization ? basicProblem(authorization) : undefined;
  if (credentialsProblem) return `the Authorization header holds ${credentialsProblem}`;
  return undefined;
}

async function checkBody(ctx: Context, limitBytes: number): Promise<void> {
  const type = ctx.is('application/x-www-form-urlencoded', 'application/json', '+json');
  if (!type) return;
  const body = await readBody(ctx.req, limitBytes);
  // Everything downstream reads the same bytes again from here on (or takes them from ctx.state).
  ctx.req = ctx.request.req = replay(ctx.req, body);
  keepRawBody(ctx, body);
  const text = strictUtf8(body);
  if (text === undefined) refuse('request body', 'bytes that are not UTF-8');
  if (isHostileText(text)) refuse('request body', 'a NUL character or an unpaired surrogate');
  if (type === 'application/x-www-form-urlencoded') {
    const problem = formProblem(text, true);
    if (problem) refuse('request body', problem);
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return; // not JSON at all: the route refuses it in its own words
  }
  if (findHostileString(parsed)) refuse('JSON body', 'a NUL character or an unpaired surrogate');
}

/** `except`: path prefixes whose routes apply these rules themselves (the admin API). */
export function refuseHostileInput(limitBytes: number, options: { except?: readonly string[] } = {}): Middleware {
  const except = options.except ?? [];
  return async (ctx, next) => {
    if (except.some((prefix) => ctx.path.startsWith(prefix))) return next();
    const problem = requestLineProblem(ctx);
    if (problem) throw new BadRequest(problem);
    await checkBody(ctx, limitBytes);
    await next();
  };
}
