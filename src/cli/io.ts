// What a CLI run reads and writes, passed in rather than taken from `process`: the `tessera` process
// (bin/tessera.js → processIo) and the tests (in process, on text) run the same main().
import { loadPino } from '../logger.ts';
import { UsageError } from './output.ts';

export interface Writer {
  write(text: string): unknown;
}

export interface CliIo {
  /** The environment the configuration is read from (config.ts parses it; nothing else reads it). */
  env: Record<string, string | undefined>;
  /**
   * Standard input, read only by the commands that take a secret from it: the text itself, a reader
   * (the process reads its stdin only when asked), or `undefined` when nothing is piped in (a terminal).
   */
  stdin: string | undefined | (() => Promise<string | undefined>);
  stdout: Writer;
  stderr: Writer;
  /**
   * Where logs are written — `serve` logs to `stdout`'s, other commands to `stderr`'s (their stdout is their
   * result) — when not to `stdout` and `stderr` themselves: the process gives pino destinations for the
   * same descriptors.
   */
  log?: { stdout: Writer; stderr: Writer };
}

/** The `tessera` process's own streams and environment. */
export function processIo(): CliIo {
  let destinations: CliIo['log'];
  return {
    env: process.env,
    stdin: async () => {
      if (process.stdin.isTTY) return undefined;
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    stdout: process.stdout,
    stderr: process.stderr,
    // The server's log as pino writes it by default (asynchronous, flushed on exit); a command's few log
    // lines synchronously, as the process exits right after it. Made when a logger is (never, for a command
    // the serving process answers).
    get log() {
      if (!destinations) {
        const { pino } = loadPino();
        destinations = { stdout: pino.destination(1), stderr: pino.destination({ dest: 2, sync: true }) };
      }
      return destinations;
    },
  };
}

/** Resolves once everything written to the process's stdout and stderr has been handed to the system. */
export async function drainProcessOutput(): Promise<void> {
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
}

/** The command's result: indented JSON with --json, otherwise the readable text. */
export function print(io: CliIo, json: boolean, value: Record<string, unknown>, human: string): void {
  io.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

/** A secret from standard input (`--password-stdin`, `--client-secret-stdin`), without its final newline. */
export async function readStdin(io: CliIo, flag = '--password-stdin', what = 'password'): Promise<string> {
  const text = typeof io.stdin === 'function' ? await io.stdin() : io.stdin;
  if (text === undefined) throw new UsageError(`${flag} expects the ${what} on standard input (e.g. \`printf %s "$SECRET" | tessera ...\`)`);
  return text.replace(/\r?\n$/, '');
}
