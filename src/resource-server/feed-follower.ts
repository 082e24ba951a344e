// Follows the issuer's revocation feed (GET /revocations/feed, JSON long-poll) in the background and keeps
// a RevocationSet current. One request at a time: catch-up pages without waiting, then long-polls that the
// issuer answers as soon as an event arrives (bounded by pollWaitSeconds). Failures back off
// exponentially (0.5 s doubling to 30 s, jittered); a refused bearer token is renewed at once. stop()
// aborts the open request. The cursor and the revocations in force are handed to saveCheckpoint after
// every batch, so a restarted process resumes from loadCheckpoint without a gap. Every wait and every
// reading of the time goes through `clock` (FeedOptions.clock), so tests can move time themselves.
import { IssuerRequestError, requestJson, sleep } from './http.ts';
import type { ClientCredentialsToken } from './client-credentials.ts';
import type { RevocationSet } from './revocation-set.ts';
import type { FeedCheckpoint, FeedClock, FeedStatus, FetchFunction, RevocationEvent } from './types.ts';

export interface FeedFollowerOptions {
  issuer: string;
  audience: string;
  endpoint: string;
  pollWaitSeconds: number;
  maxStalenessSeconds: number;
  startTimeoutSeconds: number;
  timeoutMs: number;
  token: ClientCredentialsToken;
  revocations: RevocationSet;
  fetch: FetchFunction;
  onError: (error: Error) => void;
  loadCheckpoint?: (() => Promise<FeedCheckpoint | undefined>) | undefined;
  saveCheckpoint?: ((checkpoint: FeedCheckpoint) => Promise<void>) | undefined;
  clock: FeedClock;
}

export const systemClock: FeedClock = { now: () => Date.now(), sleep };

interface Page {
  events: RevocationEvent[];
  cursor: string;
  more: boolean;
}

const CURSOR = /^\d{1,19}$/;
/** An empty answer faster than this (a short poll, or a proxy cutting the long-poll) is followed by a pause. */
const MIN_ROUND_MS = 500;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export function backoffDelay(failures: number, random = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(failures - 1, 16));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

function toPage(body: Record<string, unknown>): Page {
  const { events, cursor, more } = body;
  if (!Array.isArray(events) || typeof cursor !== 'string' || !CURSOR.test(cursor)) throw new IssuerRequestError('the revocation feed answered with an unexpected body');
  return { events: events.filter((e): e is RevocationEvent => typeof e === 'object' && e !== null && typeof e.type === 'string'), cursor, more: more === true };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function createFeedFollower(o: FeedFollowerOptions) {
  let cursor = '0';
  let caughtUp = false;
  let lastSyncAt = 0;
  let checkpointLoaded = false;
  let lastError: Error | undefined;
  let running: { controller: AbortController; done: Promise<void>; ready: Promise<void> } | undefined;

  async function readPage(wait: number, signal: AbortSignal): Promise<Page> {
    const url = new URL(o.endpoint);
    url.searchParams.set('after', cursor);
    url.searchParams.set('wait', String(wait));
    for (let attempt = 0; ; attempt++) {
      const token = await o.token.get(signal);
      try {
        return toPage(await requestJson(url.href, { fetch: o.fetch, timeoutMs: o.timeoutMs + wait * 1000, signal, headers: { authorization: `Bearer ${token}` } }));
      } catch (error) {
        // An expired or revoked bearer token: fetch a new one and try again at once (once).
        if (error instanceof IssuerRequestError && error.status === 401) {
          o.token.invalidate();
          if (attempt === 0) continue;
        }
        throw error;
      }
    }
  }

  async function save(): Promise<void> {
    if (!o.saveCheckpoint) return;
    try {
      await o.saveCheckpoint({ version: 1, issuer: o.issuer, audience: o.audience, cursor, events: o.revocations.snapshot() });
    } catch (error) {
      o.onError(new Error(`saving the revocation feed checkpoint failed: ${asError(error).message}`, { cause: error }));
    }
  }

  async function restore(): Promise<void> {
    if (checkpointLoaded || !o.loadCheckpoint) return;
    checkpointLoaded = true;
    let checkpoint: FeedCheckpoint | undefined;
    try {
      checkpoint = await o.loadCheckpoint();
    } catch (error) {
      // Reading the whole feed again is always safe: it holds every revocation still in force.
      o.onError(new Error(`loading the revocation feed checkpoint failed; reading the feed from the start: ${asError(error).message}`, { cause: error }));
      return;
    }
    if (!checkpoint) return;
    const usable = checkpoint.version === 1 && checkpoint.issuer === o.issuer && checkpoint.audience === o.audience && CURSOR.test(checkpoint.cursor) && Array.isArray(checkpoint.events);
    if (!usable) {
      o.onError(new Error('ignoring a revocation feed checkpoint of another issuer, audience or format; reading the feed from the start'));
      return;
    }
    for (const e of checkpoint.events) if (typeof e === 'object' && e !== null) o.revocations.apply(e);
    o.revocations.prune();
    cursor = checkpoint.cursor;
  }

  async function loop(signal: AbortSignal, onCaughtUp: () => void): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const started = o.clock.now();
      try {
        const page = await readPage(caughtUp ? o.pollWaitSeconds : 0, signal);
        for (const e of page.events) o.revocations.apply(e);
        cursor = page.cursor;
        lastSyncAt = o.clock.now();
        failures = 0;
        lastError = undefined;
        o.revocations.prune();
        if (page.events.length) await save();
        if (!page.more && !caughtUp) {
          caughtUp = true;
          onCaughtUp();
        }
        if (!page.more && page.events.length === 0) await o.clock.sleep(MIN_ROUND_MS - (o.clock.now() - started), signal);
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        lastError = asError(error);
        o.onError(new Error(`revocation feed: ${lastError.message}`, { cause: error }));
        await o.clock.sleep(backoffDelay(failures), signal);
      }
    }
  }

  let generation = 0;
  let starting: Promise<void> | undefined;

  async function stop(): Promise<void> {
    generation++;
    const current = running;
    if (!current) return;
    running = undefined;
    current.controller.abort();
    await current.done;
  }

  async function begin(): Promise<void> {
    const mine = generation;
    await restore();
    if (mine !== generation) throw new Error('the revocation feed follower was stopped before it caught up');
    const controller = new AbortController();
    caughtUp = false;
    let resolveReady!: () => void;
    const ready = new Promise<void>((resolve) => (resolveReady = resolve));
    const done = loop(controller.signal, resolveReady);
    running = { controller, done, ready };
    const timer = new AbortController();
    const timedOut = o.clock.sleep(o.startTimeoutSeconds * 1000, timer.signal).then(() => 'timeout' as const);
    const stopped = new Promise<'stopped'>((resolve) => controller.signal.addEventListener('abort', () => resolve('stopped'), { once: true }));
    const outcome = await Promise.race([ready.then(() => 'ready' as const), timedOut, stopped]);
    timer.abort();
    if (outcome === 'ready') return;
    if (outcome === 'timeout' && running?.controller === controller) await stop();
    throw new Error(
      outcome === 'timeout'
        ? `the revocation feed could not be read within ${o.startTimeoutSeconds}s${lastError ? `: ${lastError.message}` : ''}`
        : 'the revocation feed follower was stopped before it caught up',
    );
  }

  return {
    /** Resolves once the feed has been read up to its end; rejects after startTimeoutSeconds of failures. */
    start(): Promise<void> {
      if (starting) return starting;
      if (running) return running.ready;
      starting = begin().finally(() => {
        starting = undefined;
      });
      return starting;
    },

    stop,

    /** Why the revocation state cannot be trusted right now; undefined when it can. */
    problem(): string | undefined {
      if (!running) return 'the revocation feed follower is not running';
      if (!caughtUp) return 'the revocation feed has not been read yet';
      const age = o.clock.now() - lastSyncAt;
      if (age > o.maxStalenessSeconds * 1000) return `the revocation feed has not been read for ${Math.round(age / 1000)}s`;
      return undefined;
    },

    status(): FeedStatus {
      return { cursor, caughtUp, lastSyncAt, ...o.revocations.sizes() };
    },
  };
}

export type FeedFollower = ReturnType<typeof createFeedFollower>;
