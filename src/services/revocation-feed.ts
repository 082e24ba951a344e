// The revocation feed's reads (docs/revocation-feed.md): which API a feed client follows, and the events
// after a cursor for that API. http/revocation-feed.ts speaks the protocol (long-poll, SSE) around these.
import type { ServiceContext } from './context.ts';
import { findClientById } from '../store/clients.ts';
import { readFeed, type FeedEvent } from '../store/revocations.ts';
import { INTROSPECTS_PROPERTY } from '../domain/resource-servers.ts';

export type { FeedEvent };

/** The API (audience) a resource server's own client follows; undefined for any other or disabled client. */
export async function feedAudienceOf(ctx: ServiceContext, clientId: string): Promise<string | undefined> {
  const client = await findClientById(ctx.runtime.db, clientId);
  const audience = client?.metadata[INTROSPECTS_PROPERTY];
  return client && !client.disabled && typeof audience === 'string' ? audience : undefined;
}

/** Up to `limit` events after `cursor` that concern `audience` (or every API), oldest first. */
export function eventsAfter(ctx: ServiceContext, audience: string, cursor: bigint, limit: number): Promise<FeedEvent[]> {
  return readFeed(ctx.runtime.db, audience, cursor, limit);
}
