// What every service (use case) runs with: built once per process — by server.ts for the serving process,
// by the CLI for a command run against the database directly — and passed as the first argument. No
// service reaches for anything else: tests and the CLI build the same context on their own storage.
import type Provider from 'oidc-provider';
import type { Config } from '../config.ts';
import type { Runtime } from '../runtime.ts';
import type { EndedSession } from '../store/grants-and-sessions.ts';
import type { Mailer } from './mailer.ts';

export interface ServiceContext {
  runtime: Runtime;
  config: Config;
  /** Sends back-channel logout for sessions a service ended; returns how many deliveries succeeded. */
  notifyLogout(ended: EndedSession[]): Promise<number>;
  /** The engine (the serving one, or one built for the command): for what only it can issue. */
  provider(): Promise<Provider>;
  /** Makes a serving process pick up a key rotation at once (other processes follow on their poll). */
  keysChanged?(): Promise<void>;
  /**
   * A client or resource server changed: the serving process's engine drops its cached copy at once (other
   * processes see the change within a second, oidc/short-lived-cache.ts).
   */
  changed?(kind: 'client' | 'resource', id: string): void;
  /** Email (services/mailer.ts): SMTP, the outbox directory, or off. Absent in contexts built without one. */
  mailer?: Mailer;
}

export type { EndedSession };
