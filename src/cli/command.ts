// What a `tessera` command is: its name, usage line, flags (each with one line of help), an example, and the
// function that runs it. main() (index.ts) parses the flags from this declaration and answers --help from
// it, so the help cannot drift from what a command accepts.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Runtime } from '../runtime.ts';
import type { CliIo } from './io.ts';
import { UsageError } from './output.ts';

export interface CommandContext {
  config: Config;
  logger: Logger;
  io: CliIo;
  /** --init: in embedded mode, a command may create a data directory that does not exist yet. */
  init: boolean;
  /**
   * An open runtime to run on instead of opening the database for this one command (tests share one
   * across many commands). When set, the control socket and the data-directory check are skipped.
   */
  runtime?: Runtime;
}

export type FlagValues = Record<string, string | string[] | boolean | undefined>;

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** May be given more than once (the values are collected in order). */
  multiple?: boolean;
  /** How the value is shown in help: `--redirect-uri URL`. */
  value?: string;
  /** One line. */
  help: string;
}

export interface CommandSpec {
  /** The words after `tessera`: `client create`. */
  name: string;
  /** The flags as the usage line shows them, without the common ones (--json, --init, --help). */
  synopsis: string;
  /** One line: what the command does. */
  summary: string;
  flags: Record<string, FlagSpec>;
  /** One command line an operator could run. */
  example: string;
  /** Whether the command prints a result (and so takes --json). Every command but `serve` does. */
  json?: boolean;
  /**
   * Whether the command may create the embedded data directory when given --init. `serve` creates it
   * anyway and `doctor` never does; every other command does only when asked.
   */
  init?: boolean;
  run(ctx: CommandContext, values: FlagValues): Promise<number | void>;
}

export const JSON_FLAG: FlagSpec = { type: 'boolean', help: 'print the result as JSON (stdout) instead of text' };
export const INIT_FLAG: FlagSpec = {
  type: 'boolean',
  help: 'embedded database only: create TESSERA_DATA_DIR if it does not exist (otherwise the command refuses)',
};
export const HELP_FLAG: FlagSpec = { type: 'boolean', help: 'print this help and exit' };

/** The flags a command accepts: its own plus the common ones. */
export function allFlags(spec: CommandSpec): Record<string, FlagSpec> {
  return {
    ...spec.flags,
    ...(spec.json === false ? {} : { json: JSON_FLAG }),
    ...(spec.init === false ? {} : { init: INIT_FLAG }),
    help: HELP_FLAG,
  };
}

export function usageLine(spec: CommandSpec): string {
  return ['usage: tessera', spec.name, spec.synopsis, spec.json === false ? '' : '[--json]'].filter(Boolean).join(' ');
}

const flagLabel = (name: string, flag: FlagSpec) => `${name === 'help' ? '-h, ' : ''}--${name}${flag.value ? ` ${flag.value}` : ''}`;

/** `tessera <command> --help`: the usage line, one line per flag, an example. */
export function commandHelp(spec: CommandSpec): string {
  const flags = Object.entries(allFlags(spec));
  const width = Math.max(...flags.map(([name, flag]) => flagLabel(name, flag).length)) + 2;
  return [
    usageLine(spec),
    '',
    `${spec.summary}`,
    '',
    'Flags:',
    ...flags.map(([name, flag]) => `  ${flagLabel(name, flag).padEnd(width)}${flag.help}${flag.multiple ? ' (repeatable)' : ''}`),
    '',
    'Example:',
    `  ${spec.example}`,
    '',
  ].join('\n');
}

/** Whether the arguments ask for help (anywhere before a `--`), whatever else they hold. */
export function asksForHelp(args: string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** The command's flags, strictly: an unknown flag, a missing value or a stray argument is a usage error. */
export function parseFlags(spec: CommandSpec, args: string[]): FlagValues {
  const options: ParseArgsOptionsConfig = {};
  for (const [name, flag] of Object.entries(allFlags(spec))) {
    options[name] = flag.type === 'boolean' ? { type: 'boolean', default: false, ...(name === 'help' ? { short: 'h' } : {}) } : { type: 'string', ...(flag.multiple ? { multiple: true } : {}) };
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as FlagValues;
  } catch (error) {
    const e = error as { code?: string; message: string };
    const hint = `see \`tessera ${spec.name} --help\``;
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(e.message)?.[1] ?? 'flag';
      throw new UsageError(`unknown option '${flag}' for \`tessera ${spec.name}\`; ${hint}`);
    }
    throw new UsageError(`${e.message.replace(/\.$/, '')}; ${hint}`);
  }
}

export const string = (values: FlagValues, name: string): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
export const strings = (values: FlagValues, name: string): string[] | undefined => (Array.isArray(values[name]) ? values[name] : undefined);
