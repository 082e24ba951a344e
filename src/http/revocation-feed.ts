// The revocation feed (docs/revocation-feed.md): what a resource server that validates JWT access tokens
// locally must stop accepting. It authenticates with a bearer access token for the feed audience
// (client_credentials of its introspection client, scope revocations:read) and reads, from a durable
// cursor, the events concerning its audience — as JSON long-poll, or as server-sent events.
import { PassThrough } from 'node:stream';
import Router from '@koa/router';
import { z } from 'zod';
import type { Context } from 'koa';
import type { ServiceContext } from '../services/context.ts';
import { eventsAfter, feedAudienceOf, type FeedEvent } from '../services/revocation-feed.ts';
import type { AccessTokenVerifier } from '../domain/access-token-verifier.ts';
import { FEED_SCOPE } from '../domain/resource-servers.ts';
import { AppError, Unauthorized } from '../errors.ts';
import { isDatabaseUnavailable } from '../problem.ts';
import { FEED_PATH } from '../oidc/provider.ts';
import { createDPoPGuard } from './dpop-bound-tokens.ts';

export interface FeedDeps {
  services: ServiceContext;
  verifier: AccessTokenVerifier;
  feedAudience: string;
  /** How often the database is polled for new events while a caller waits. */
  pollMs?: number;
  /** Longest time one long-poll request stays open (an event stream: four times as long). */
  maxWaitSeconds?: number;
  /** Aborted when the server shuts down: open streams and long-polls end at once. */
  shutdown: AbortSignal;
  /** Event streams one client may hold open at once (in this process); beyond it, 429. */
  maxStreamsPerClient?: number;
  /** Allowed clock skew of DPoP proofs (RFC 9449) for bound feed tokens (default 15). */
  clockToleranceSeconds?: number;
}

const BATCH = 500;
/** The largest cursor: revocation_events.id is a PostgreSQL bigint. */
export const MAX_CURSOR = 9223372036854775807n;
/**
 * `after` (or Last-Event-ID): a bigint column, so anything beyond its range would make every read fail (a
 * 500, or a stream that loops). Absent or empty: from the start.
 */
const CURSOR = z
  .union([z.undefined(), z.literal(''), z.string().regex(/^\d{1,19}$/)])
  .transform((v) => BigInt(v || 0))
  .refine((v) => v <= MAX_CURSOR);
/** `wait`: seconds a long-poll may wait for an event; anything that is not a number means do not wait. */
const WAIT_SECONDS = z.coerce.number().catch(0);

/** What a refused stream is told to wait before trying again (streams last up to ~100 s; most end sooner). */
const STREAM_RETRY_AFTER_SECONDS = 10;

export function toWire(e: FeedEvent) {
  return {
    cursor: e.cursor,
    type: e.type,
    ...(e.jti ? { jti: e.jti } : {}),
    ...(e.grantId ? { gid: e.grantId } : {}),
    ...(e.clientId ? { client_id: e.clientId } : {}),
    ...(e.sub ? { sub: e.sub } : {}),
    ...(e.audiences ? { aud: e.audiences } : {}),
    reason: e.reason,
    occurred_at: Math.floor(e.occurredAt.getTime() / 1000),
    // Tokens this event covers have all expired by then; after it, the event may be pruned.
    valid_until: Math.floor(e.expiresAt.getTime() / 1000),
  };
}

export function createRevocationFeedRouter(deps: FeedDeps): Router {
  const router = new Router();
  const pollMs = deps.pollMs ?? 250;
  const maxWait = deps.maxWaitSeconds ?? 25;
  const dpop = createDPoPGuard(deps.clockToleranceSeconds ?? 15);

  async function audienceOf(ctx: Context): Promise<{ audience: string; tokenExp: number; clientId: string }> {
    const presented = dpop.read(ctx.get('authorization'));
    ctx.set('WWW-Authenticate', `Bearer realm="revocation-feed", scope="${FEED_SCOPE}"`);
    if (!presented) throw new Unauthorized('a bearer access token for the revocation feed is required', 'invalid_request');
    const claims = await deps.verifier.verify(presented.token, { audience: deps.feedAudience });
    if (!claims) throw new Unauthorized('the access token is invalid or expired');
    // RFC 9449: a DPoP-bound feed token needs its proof (http/dpop-bound-tokens.ts).
    const refusal = await dpop.refusal(ctx, presented, claims);
    if (refusal) throw new Unauthorized(refusal.description, refusal.error);
    if (!String(claims.scope ?? '').split(' ').includes(FEED_SCOPE)) throw new AppError(403, 'insufficient_scope', `scope ${FEED_SCOPE} is required`);
    const audience = await feedAudienceOf(deps.services, claims.client_id);
    if (!audience) throw new Unauthorized('the client is not a resource server');
    // The challenge belongs to refusals only (RFC 9110 §11.6.1): DPoP clients read one on a 200 as a refusal.
    ctx.remove('WWW-Authenticate');
    return { audience, tokenExp: claims.exp!, clientId: claims.client_id };
  }

  function cursorOf(value: unknown): bigint {
    const parsed = CURSOR.safeParse(value);
    if (!parsed.success) throw new AppError(400, 'invalid_request', `cursor must be an integer from 0 to ${MAX_CURSOR}`);
    return parsed.data;
  }

  // Open event streams per client: each holds a connection and polls the database, so one client (or a
  // stolen feed token) cannot hold an unbounded number of them.
  const maxStreams = deps.maxStreamsPerClient ?? 4;
  const openStreams = new Map<string, number>();
  function takeStreamSlot(clientId: string): (() => void) | undefined {
    const open = openStreams.get(clientId) ?? 0;
    if (open >= maxStreams) return undefined;
    openStreams.set(clientId, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (openStreams.get(clientId) ?? 1) - 1;
      if (left > 0) openStreams.set(clientId, left);
      else openStreams.delete(clientId);
    };
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  router.get(FEED_PATH, async (ctx) => {
    const { audience, tokenExp, clientId } = await audienceOf(ctx);
    ctx.set('Cache-Control', 'no-store');
    const after = cursorOf(ctx.get('last-event-id') || ctx.query.after);

    if (ctx.accepts('json', 'text/event-stream') === 'text/event-stream') {
      const release = takeStreamSlot(clientId);
      if (!release) {
        ctx.set('Retry-After', String(STREAM_RETRY_AFTER_SECONDS));
        throw new AppError(429, 'too_many_requests', `this client already has ${maxStreams} event streams open; close one or use long-polling`);
      }
      const stream = new PassThrough();
      // Released when the stream ends for any reason: the caller went away, its time is up, or shutdown.
      stream.once('close', release);
      ctx.type = 'text/event-stream';
      ctx.set('X-Accel-Buffering', 'no');
      ctx.body = stream;
      void (async () => {
        let cursor = after;
        const until = Math.min(Date.now() + maxWait * 1000 * 4, tokenExp * 1000);
        let lastBeat = Date.now();
        stream.write(`retry: 1000\n\n`);
        let failed = false;
        while (!failed && !stream.destroyed && !deps.shutdown.aborted && Date.now() < until) {
          // An unreachable database is waited out; any other failure ends the stream (the caller reconnects)
          // rather than polling a query that cannot succeed.
          const events = await eventsAfter(deps.services, audience, cursor, BATCH).catch((error: unknown) => {
            if (!isDatabaseUnavailable(error)) failed = true;
            return [];
          });
          for (const e of events) {
            stream.write(`id: ${e.cursor}\nevent: ${e.type}\ndata: ${JSON.stringify(toWire(e))}\n\n`);
            cursor = BigInt(e.cursor);
          }
          if (Date.now() - lastBeat > 15_000) {
            stream.write(': keep-alive\n\n');
            lastBeat = Date.now();
          }
          if (events.length < BATCH) await sleep(pollMs);
        }
        stream.end();
      })().finally(release);
      return;
    }

    const wait = Math.min(WAIT_SECONDS.parse(ctx.query.wait ?? 0) || 0, maxWait);
    const deadline = Date.now() + wait * 1000;
    let events = await eventsAfter(deps.services, audience, after, BATCH);
    while (events.length === 0 && Date.now() < deadline && !deps.shutdown.aborted) {
      await sleep(pollMs);
      events = await eventsAfter(deps.services, audience, after, BATCH);
    }
    ctx.body = {
      events: events.map(toWire),
      cursor: events.length ? events[events.length - 1]!.cursor : after.toString(),
      more: events.length === BATCH,
    };
  });

  return router;
}
