// High-volume audit events (every token issued or revoked at the endpoints) are written in batches, one
// multi-row insert per second, so the audit trail does not add a commit to every token request. The price:
// events of the last second are lost if the process is killed, or if the database is down when the batch
// is written (the loss is logged with a count). Rarer events (sign-ins, admin changes) are written at once.
import type { Db } from '../store/db.ts';
import type { Logger } from '../logger.ts';
import { insertAuditEvents, type AuditEvent } from '../store/audit.ts';

export interface AuditBuffer {
  record(event: AuditEvent): void;
  /** Writes what is pending now. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is pending. */
  stop(): Promise<void>;
}

export function createAuditBuffer(db: Db, logger: Logger, options: { flushMs?: number; maxPending?: number } = {}): AuditBuffer {
  const maxPending = options.maxPending ?? 20_000;
  let pending: AuditEvent[] = [];
  let dropped = 0;
  let writing: Promise<void> = Promise.resolve();

  const flush = () => {
    writing = writing.then(async () => {
      if (dropped) {
        logger.warn({ dropped }, 'audit buffer full: events dropped');
        dropped = 0;
      }
      while (pending.length) {
        const batch = pending.splice(0, 1000);
        try {
          await insertAuditEvents(db, batch);
        } catch (error) {
          logger.warn({ lost: batch.length + pending.length, err: { message: (error as Error).message } }, 'audit events could not be written');
          pending = [];
        }
      }
    });
    return writing;
  };
  const timer = setInterval(() => void flush(), options.flushMs ?? 1000);
  timer.unref();
  return {
    record(event) {
      if (pending.length >= maxPending) dropped++;
      else pending.push(event);
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
