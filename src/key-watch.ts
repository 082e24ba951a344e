// Every process polls the key set (every KEY_POLL_INTERVAL seconds, at most 60): it runs the rotation
// schedule — the advisory lock lets exactly one process act — and, when the set changed (here or in another
// process), reloads the engine's keys without a restart.
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Runtime } from './runtime.ts';
import { keySetFingerprint, rotationPolicy, runScheduledRotation } from './domain/keys.ts';

export interface KeyWatch {
  /** Reload now if the key set changed (after a rotation made in this process). */
  check(): Promise<void>;
  /** One poll now, as the timer runs it: the scheduled rotation, then a reload if the set changed. */
  poll(): Promise<void>;
  stop(): void;
}

export async function startKeyWatch(
  runtime: Runtime,
  config: Config,
  logger: Logger,
  reload: () => Promise<void>,
): Promise<KeyWatch> {
  let fingerprint = await keySetFingerprint(runtime.db);
  let running: Promise<void> | undefined;

  async function reloadIfChanged() {
    const latest = await keySetFingerprint(runtime.db);
    if (latest === fingerprint) return;
    await reload();
    fingerprint = latest;
    logger.info('signing and cookie keys reloaded');
  }

  async function tick() {
    try {
      const changes = await runScheduledRotation(runtime.db, runtime.box, await rotationPolicy(runtime.db, config), runtime.clock.now());
      if (changes?.length) logger.info({ changes }, 'scheduled key rotation');
      await reloadIfChanged();
    } catch (error) {
      logger.warn({ err: { message: (error as Error).message } }, 'key check failed; will retry');
    }
  }

  // One check at a time, whether from the timer or from check().
  const serialized = (fn: () => Promise<void>) => {
    running = (running ?? Promise.resolve()).then(fn, fn);
    return running;
  };
  const timer = setInterval(() => void serialized(tick), config.keys.pollSeconds * 1000);
  timer.unref();
  return {
    poll: () => serialized(tick),
    check: () =>
      serialized(async () => {
        try {
          await reloadIfChanged();
        } catch (error) {
          logger.warn({ err: { message: (error as Error).message } }, 'key reload failed; the next poll retries');
        }
      }),
    stop: () => clearInterval(timer),
  };
}
