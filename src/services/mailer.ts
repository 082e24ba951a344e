// Sending email without ever holding up or failing what the person did. `send` queues the message and returns
// at once; the message goes out through SMTP (SMTP_URL, nodemailer, loaded on first use) or is written to the
// outbox directory as an .eml file (0600, in a 0700 directory): the same MIME message either way. A failed
// SMTP delivery is tried again twice (after 2 s and 20 s) and then logged as failed, naming the kind of
// message and the error only: the message itself carries single-use links, which are secrets, so neither a
// message, a link nor a recipient's address is ever logged.
//
// `later` runs other background work (making a reset link after the answer was sent) under the same
// tracking, so shutdown and a CLI run wait for it (`idle`) before the database closes.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';

export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** What kind of message, for the log (never the content). */
  kind: string;
}

export interface Mailer {
  /** Whether email can be sent at all (SMTP, or an outbox directory). */
  readonly enabled: boolean;
  /** Where messages go, for the start-up line: 'smtp', 'outbox' or 'off'. */
  readonly mode: 'smtp' | 'outbox' | 'off';
  /** Queues a message; never throws, never waits for delivery. */
  send(message: OutgoingEmail): void;
  /** Runs `work` in the background; a failure is logged under `label` (its error message only). */
  later(label: string, work: () => Promise<void>): void;
  /** Resolves once nothing queued or running is left (shutdown, the end of a CLI command), or after `maxMs`. */
  idle(maxMs?: number): Promise<void>;
}

const RETRY_DELAYS_MS = [2_000, 20_000];
// Bounds on every SMTP connection, so a stuck server cannot keep a send (or shutdown) waiting for long.
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 };

type Transport = { sendMail(message: Record<string, unknown>): Promise<{ message?: unknown }> };

export function createMailer(config: Config, logger: Logger): Mailer {
  const { smtpUrl, from, outboxDir } = config.mail;
  const mode = smtpUrl ? 'smtp' : outboxDir ? 'outbox' : 'off';
  const inFlight = new Set<Promise<void>>();
  let transport: Promise<Transport> | undefined;

  const load = (): Promise<Transport> =>
    (transport ??= import('nodemailer').then(({ createTransport }) =>
      mode === 'smtp'
        ? (createTransport({ url: smtpUrl, ...SMTP_TIMEOUTS } as Parameters<typeof createTransport>[0]) as unknown as Transport)
        : (createTransport({ streamTransport: true, buffer: true, newline: 'unix' }) as unknown as Transport),
    ));

  function track(work: Promise<void>): void {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  async function deliver(message: OutgoingEmail): Promise<void> {
    // The address as one address object: nodemailer does not parse it (a comma in it cannot add a recipient).
    const mail = { from, to: { name: '', address: message.to }, subject: message.subject, text: message.text, html: message.html };
    const t = await load();
    if (mode === 'outbox') {
      const built = await t.sendMail(mail);
      mkdirSync(outboxDir!, { recursive: true, mode: 0o700 });
      // A name that sorts by time and never collides; the file is the recipient's secret: owner-only.
      const file = join(outboxDir!, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(6).toString('hex')}.eml`);
      writeFileSync(file, built.message as Buffer, { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
      logger.info({ kind: message.kind, outbox: outboxDir }, 'email written to the outbox');
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await t.sendMail(mail);
        logger.info({ kind: message.kind }, 'email sent');
        return;
      } catch (error) {
        const delay = RETRY_DELAYS_MS[attempt];
        const reason = { message: (error as Error).message, code: (error as { code?: unknown }).code };
        if (delay === undefined) {
          logger.error({ kind: message.kind, err: reason, attempts: attempt + 1 }, 'email could not be sent; giving up');
          return;
        }
        logger.warn({ kind: message.kind, err: reason, attempt: attempt + 1 }, 'email could not be sent; will retry');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  return {
    enabled: mode !== 'off',
    mode,
    send(message) {
      if (mode === 'off') return;
      track(deliver(message).catch((error: Error) => logger.error({ kind: message.kind, err: { message: error.message } }, 'email could not be written')));
    },
    later(label, work) {
      track(
        (async () => {
          try {
            await work();
          } catch (error) {
            logger.error({ task: label, err: { message: (error as Error).message } }, 'background email task failed');
          }
        })(),
      );
    },
    async idle(maxMs = Infinity) {
      const drained = (async () => {
        while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      })();
      if (!Number.isFinite(maxMs)) return drained;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, maxMs)))]);
      clearTimeout(timer);
    },
  };
}
