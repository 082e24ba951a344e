// Every serving process holds the revocations in force in memory (domain/revocation-state.ts), so that
// introspection of a JWT access token needs no query to know whether it is revoked. The memory is loaded
// at start and kept current from the durable revocation feed (revocation_events, ids in commit order):
// - on PostgreSQL, a connection of its own LISTENs for the notification each revocation transaction sends
//   at commit, and reads the new events by id (also after any reconnect, so nothing is missed);
// - the process that revokes catches up before it answers from memory again (store/revocations.ts tells it
//   the newest id it wrote), so its own next request never sees a state without its revocation.
// Fail closed: the listener sends itself a heartbeat every HEARTBEAT_MS through the same connection;
// notifications arrive in commit order, so once a heartbeat is back (and the catch-ups before it done),
// every revocation committed before it was sent is in memory. Without a heartbeat back within STALE_AFTER_MS
// (listener down, lagging, reconnecting), isRevoked answers undefined and the caller asks the database.
// Embedded PGlite has one process and no other writer: its memory is current by the catch-up alone.
// The same connection also hears the change notices (store/change-notices.ts: keys rotated, a client or
// resource server changed) and hands them to the server, so other processes follow such changes at once
// instead of on their next key poll or cache expiry; after a reconnect it reports a key change, since
// notices sent meanwhile are gone (the caches expire within a second anyway).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Runtime } from './runtime.ts';
import { createRevocationState, type TokenIdentity } from './domain/revocation-state.ts';
import { liveRevocationEvents, onRevocationsRecorded, revocationEventsAfter, REVOCATIONS_CHANNEL } from './store/revocations.ts';
import { CHANGES_CHANNEL, parseChangeNotice, type ChangeNotice } from './store/change-notices.ts';

const HEARTBEAT_MS = 100;
const STALE_AFTER_MS = 500;
/** A revocation written here that never shows in the feed was rolled back; stop waiting for it after this. */
const ROLLED_BACK_AFTER_MS = 2_000;
const PRUNE_EVERY_MS = 60_000;

export interface RevocationWatch {
  /** Whether the token is revoked, from memory; undefined when memory may be behind (ask the database). */
  isRevoked(token: TokenIdentity): Promise<boolean | undefined>;
  /** For operators and tests: is memory being answered from, how far it has read, the listener's backend. */
  status(): { current: boolean; lastEventId: string; entries: number; listenerPid: number | undefined };
  stop(): Promise<void>;
}

export async function startRevocationWatch(runtime: Runtime, config: Config, logger: Logger, onChange: (notice: ChangeNotice) => void = () => {}): Promise<RevocationWatch> {
  const { db } = runtime;
  const state = createRevocationState();
  const live = await liveRevocationEvents(db);
  state.apply(live.events);
  state.advanceTo(live.newestId);

  // Newest event id this process wrote, and when: memory answers only once it has read that far.
  let awaited = 0n;
  let awaitedAt = 0;
  onRevocationsRecorded(db, (id) => {
    if (id > awaited) awaited = id;
    awaitedAt = Date.now();
  });

  let queue: Promise<void> = Promise.resolve();
  const catchUp = async () => {
    for (;;) {
      const events = await revocationEventsAfter(db, state.lastId);
      state.apply(events);
      if (events.length < 10_000) return;
    }
  };
  /** Catch-ups (and what waits for them) run one after another, in the order they were asked for. */
  const serially = (step: () => Promise<void>) => (queue = queue.then(step).catch((error: Error) => logger.warn({ err: { message: error.message } }, 'revocation catch-up failed; answering from the database until it succeeds')));

  const listener = config.databaseUrl ? startListener(config.databaseUrl, logger, serially, catchUp, onChange) : undefined;
  const pruner = setInterval(() => state.prune(Date.now()), PRUNE_EVERY_MS);
  pruner.unref();

  const current = () => listener === undefined || listener.currentSince() > Date.now() - STALE_AFTER_MS;

  return {
    async isRevoked(token) {
      if (!current()) return undefined;
      if (state.lastId < awaited) {
        await serially(catchUp);
        if (state.lastId < awaited) {
          if (Date.now() - awaitedAt < ROLLED_BACK_AFTER_MS) return undefined;
          awaited = state.lastId;
        }
      }
      return state.isRevoked(token);
    },
    status: () => ({ current: current(), lastEventId: state.lastId.toString(), entries: state.size, listenerPid: listener?.pid() }),
    async stop() {
      clearInterval(pruner);
      await listener?.stop();
      await queue;
    },
  };
}

/**
 * A LISTEN connection of its own (not from the pool: it holds its session), reconnecting with back-off.
 * currentSince(): the send time of the newest heartbeat back, once every catch-up queued before it is done.
 */
function startListener(
  databaseUrl: string,
  logger: Logger,
  serially: (step: () => Promise<void>) => Promise<void>,
  catchUp: () => Promise<void>,
  onChange: (notice: ChangeNotice) => void,
) {
  const heartbeatChannel = `tessera_heartbeat_${randomBytes(8).toString('hex')}`;
  let client: pg.Client | undefined;
  let backendPid: number | undefined;
  let currentSince = 0;
  let stopped = false;
  let retryMs = 250;
  let heartbeat: NodeJS.Timeout | undefined;
  let reconnect: NodeJS.Timeout | undefined;

  const connect = async () => {
    const next = new pg.Client({ connectionString: databaseUrl, application_name: 'tessera-revocations', connectionTimeoutMillis: 3_000, keepAlive: true });
    next.on('error', () => {}); // reported through 'end'
    next.on('notification', (message) => {
      if (message.channel === REVOCATIONS_CHANNEL) void serially(catchUp);
      else if (message.channel === CHANGES_CHANNEL) {
        const notice = parseChangeNotice(message.payload ?? '');
        if (notice) onChange(notice);
      } else if (message.channel === heartbeatChannel) {
        const sentAt = Number(message.payload);
        void serially(async () => {
          if (client === next) currentSince = Math.max(currentSince, sentAt);
        });
      }
    });
    next.on('end', () => {
      if (client !== next) return;
      client = undefined;
      backendPid = undefined;
      currentSince = 0;
      clearInterval(heartbeat);
      if (!stopped) {
        logger.warn('revocation listener disconnected; introspection asks the database until it is back');
        scheduleReconnect();
      }
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${REVOCATIONS_CHANNEL}`);
      await next.query(`LISTEN ${CHANGES_CHANNEL}`);
      await next.query(`LISTEN ${heartbeatChannel}`);
      backendPid = ((await next.query('select pg_backend_pid() as pid')).rows[0] as { pid: number }).pid;
    } catch (error) {
      await next.end().catch(() => {});
      throw error;
    }
    if (stopped) return void (await next.end().catch(() => {}));
    client = next;
    retryMs = 250;
    // Whatever committed while no one listened is read by id before memory is trusted again; key changes
    // noticed meanwhile are lost, so the key set is checked.
    void serially(catchUp);
    onChange({ kind: 'keys' });
    heartbeat = setInterval(() => {
      next.query('select pg_notify($1, $2)', [heartbeatChannel, String(Date.now())]).catch(() => {});
    }, HEARTBEAT_MS);
    heartbeat.unref();
  };

  const scheduleReconnect = () => {
    reconnect = setTimeout(() => {
      connect().catch((error: Error) => {
        logger.warn({ err: { message: error.message } }, 'revocation listener could not connect; will retry');
        retryMs = Math.min(retryMs * 2, 5_000);
        if (!stopped) scheduleReconnect();
      });
    }, retryMs);
    reconnect.unref();
  };

  connect().catch((error: Error) => {
    logger.warn({ err: { message: error.message } }, 'revocation listener could not connect; will retry');
    scheduleReconnect();
  });

  return {
    currentSince: () => (client ? currentSince : 0),
    pid: () => backendPid,
    async stop() {
      stopped = true;
      clearInterval(heartbeat);
      clearTimeout(reconnect);
      const open = client;
      client = undefined;
      await open?.end().catch(() => {});
    },
  };
}
