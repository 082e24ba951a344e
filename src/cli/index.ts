// `tessera <command>`: main(argv, io) finds the command, answers --help and --version, parses the flags and
// the configuration, runs the command and returns the exit status — 0, 1 when it failed, 2 for a usage or
// configuration error — without touching `process` itself: bin/tessera.js is the process around it, and tests
// call it in process. Non-serve commands log to stderr so stdout stays machine-readable.
// What a command needs beyond its declaration (configuration, logger, database, server) is imported once it
// runs: `--help` and `--version` load the declarations only (docs/benchmarks.md, "CLI and start-up").
import { readFileSync } from 'node:fs';
import type { Logger } from '../logger.ts';
import type { Runtime } from '../runtime.ts';
import { coreCommands } from './commands.ts';
import { keyCommands } from './key-commands.ts';
import { doctorCommands } from './doctor-command.ts';
import { upstreamCommands } from './upstream-commands.ts';
import { clientUpdateCommands } from './client-update-command.ts';
import { mfaCommands } from './mfa-commands.ts';
import { adminCommands } from './admin-commands.ts';
import { asksForHelp, commandHelp, parseFlags, type CommandContext, type CommandSpec } from './command.ts';
import { describeFailure, UsageError } from './output.ts';
import type { CliIo } from './io.ts';

export type { CliIo } from './io.ts';

const GROUPS = ['serve', 'migrate', 'doctor', 'user', 'client', 'resource', 'iat', 'upstream', 'keys', 'admin'];
const groupOf = (spec: CommandSpec) => spec.name.split(' ')[0]!;

/** Every command, in the order `tessera --help` lists them. */
export const commands: readonly CommandSpec[] = [...coreCommands, ...doctorCommands, ...keyCommands, ...clientUpdateCommands, ...mfaCommands, ...upstreamCommands, ...adminCommands]
  .map((spec, index) => ({ spec, index }))
  .sort((a, b) => GROUPS.indexOf(groupOf(a.spec)) - GROUPS.indexOf(groupOf(b.spec)) || a.index - b.index)
  .map(({ spec }) => spec);

export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const firstSentence = (text: string) => text.replace(/\.\s.*$|\.$/s, '');

function listing(specs: readonly CommandSpec[]): string[] {
  const width = Math.max(...specs.map((s) => s.name.length)) + 3;
  return specs.map((s) => `  ${s.name.padEnd(width)}${firstSentence(s.summary)}`);
}

function overview(): string {
  return [
    'usage: tessera <command> [flags]',
    '',
    'Commands:',
    ...listing(commands),
    '',
    'Run `tessera <command> --help` for a command\'s flags and an example; `tessera --version` for the version.',
    'Every command but serve prints JSON with --json. Configuration comes from environment variables (README.md).',
    'Embedded mode (no DATABASE_URL): commands other than serve refuse a TESSERA_DATA_DIR that does not exist,',
    'unless given --init, so that a command run from another directory cannot create a second, empty database.',
    '',
  ].join('\n');
}

function groupHelp(group: string, specs: readonly CommandSpec[]): string {
  return [`usage: tessera ${group} <command> [flags]`, '', 'Commands:', ...listing(specs), '', `Run \`tessera ${group} <command> --help\` for a command's flags and an example.`, ''].join('\n');
}

type Found = { spec: CommandSpec; args: string[] } | { group: string; specs: CommandSpec[]; args: string[] };

/** The command the words name (`user create`, `serve`), or the group they name (`user`). */
function find(words: string[]): Found {
  const [first = '', second, ...rest] = words;
  const byName = (name: string) => commands.find((c) => c.name === name);
  const single = byName(first);
  if (single) return { spec: single, args: words.slice(1) };
  const specs = commands.filter((c) => groupOf(c) === first);
  if (specs.length === 0) throw new UsageError(`unknown command "${first}"; see \`tessera --help\``);
  const pair = second !== undefined && !second.startsWith('-') ? byName(`${first} ${second}`) : undefined;
  if (pair) return { spec: pair, args: rest };
  if (second !== undefined && !second.startsWith('-')) {
    throw new UsageError(`unknown command "${first} ${second}" (${first} commands: ${specs.map((s) => s.name.split(' ')[1]).join(', ')}); see \`tessera ${first} --help\``);
  }
  return { group: first, specs, args: words.slice(1) };
}

export interface MainOptions {
  /**
   * An open runtime every command runs its operations on, instead of opening the database itself (tests
   * share one across many commands). It must be the database the environment names.
   */
  runtime?: Runtime;
}

async function run(argv: string[], io: CliIo, options: MainOptions): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === '--help' || first === '-h' || (first === 'help' && argv.length === 1)) {
    io.stdout.write(overview());
    return 0;
  }
  if (first === '--version' || first === 'version') {
    io.stdout.write(`tessera ${version()}\n`);
    return 0;
  }
  const found = find(first === 'help' ? [...argv.slice(1), '--help'] : argv);
  if ('group' in found) {
    if (!asksForHelp(found.args)) {
      const names = found.specs.map((s) => s.name.split(' ')[1]).join(', ');
      throw new UsageError(`"${found.group}" needs a command (${names}); see \`tessera ${found.group} --help\``);
    }
    io.stdout.write(groupHelp(found.group, found.specs));
    return 0;
  }
  const { spec, args } = found;
  if (asksForHelp(args)) {
    io.stdout.write(commandHelp(spec));
    return 0;
  }
  const values = parseFlags(spec, args);

  const [{ parseConfig }, { createLogger }] = await Promise.all([import('../config.ts'), import('../logger.ts')]);
  const parsed = parseConfig(io.env);
  if (!parsed.ok) {
    for (const problem of parsed.problems) io.stderr.write(`tessera: invalid configuration: ${problem}\n`);
    return 2;
  }
  const { config } = parsed;
  const serving = spec.name === 'serve';
  let logger: Logger | undefined;
  const ctx: CommandContext = {
    config,
    // The server logs to stdout; a command's stdout is its result, so its (warning-level) log goes to stderr.
    // Made on first use: a command the serving process answers (control socket) logs nothing here.
    get logger() {
      logger ??= serving
        ? createLogger(config.logLevel, io.log?.stdout ?? io.stdout)
        : createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, io.log?.stderr ?? io.stderr);
      return logger;
    },
    io,
    init: values.init === true,
    ...(options.runtime ? { runtime: options.runtime } : {}),
  };
  return (await spec.run(ctx, values)) ?? 0;
}

/** Runs `tessera <argv>`; resolves to the exit status. Every failure is one `tessera: …` line on stderr. */
export async function main(argv: string[], io: CliIo, options: MainOptions = {}): Promise<number> {
  try {
    return await run(argv, io, options);
  } catch (error) {
    const { exitCode, line } = describeFailure(error);
    io.stderr.write(`tessera: ${line}\n`);
    return exitCode;
  }
}
