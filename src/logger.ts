// pino root logger. Logs are JSON and must never carry passwords, secrets, codes, tokens or cookies:
// the request logger records paths without query strings, and these paths are censored wherever they appear.
import { createRequire } from 'node:module';
import type { Logger, DestinationStream } from 'pino';

export type { Logger };

/**
 * pino itself, loaded when the first logger is made rather than with this module: a CLI command answered by
 * the serving process makes none (cli/index.ts). pino is CommonJS, so it loads synchronously.
 */
export const loadPino = () => createRequire(import.meta.url)('pino') as typeof import('pino');

const SECRET_KEYS = [
  'password',
  'client_secret',
  'clientSecret',
  'secret',
  'access_token',
  'refresh_token',
  'id_token',
  'code',
  'code_verifier',
  'token',
  'authorization',
  'cookie',
  '["set-cookie"]',
];

// Top level and up to two levels deep (pino's wildcard covers one level per `*`).
const redactPaths = SECRET_KEYS.flatMap((k) => {
  const dotted = k.startsWith('[') ? k : `.${k}`;
  return [k, `*${dotted}`, `*.*${dotted}`];
});

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const { pino } = loadPino();
  return pino(
    {
      level,
      base: { service: 'tessera' },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
