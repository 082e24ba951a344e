// `tessera user factors|reset-mfa`: an operator sees a person's second factors (authenticator apps and
// passkeys) and, for a lost phone or key, removes them all (with the recovery codes); the person then signs
// in with the password alone, or is walked through setting up a new authenticator app where a second factor
// is required. Audited (mfa.reset) and told to the person by email.
import { print } from './io.ts';
import { UsageError } from './output.ts';
import { runOperation } from './run-operation.ts';
import { string, type CommandContext, type CommandSpec, type FlagValues } from './command.ts';

const USERNAME = { type: 'string' as const, value: 'U', help: 'the user (username or user id)' };

function requireUser(values: FlagValues, command: string): string {
  const user = string(values, 'username');
  if (!user) throw new UsageError(`${command} needs --username (a username or user id)`);
  return user;
}

async function userFactors(ctx: CommandContext, values: FlagValues): Promise<void> {
  const result = await runOperation(ctx, 'user.factors', { user: requireUser(values, 'user factors') });
  const lines = result.factors.map(
    (f) => `${f.id}  ${f.kind}  "${f.label}"  since ${f.confirmed_at}${f.last_used_at !== undefined ? `  last used ${f.last_used_at ?? 'never'}` : ''}`,
  );
  lines.push(`${result.recovery_codes_left} unused recovery code(s)`);
  print(ctx.io, values.json === true, result, result.factors.length ? lines.join('\n') : `${result.username} has no second factor`);
}

async function userResetMfa(ctx: CommandContext, values: FlagValues): Promise<void> {
  const result = await runOperation(ctx, 'user.reset-mfa', { user: requireUser(values, 'user reset-mfa'), actor: 'cli' });
  print(
    ctx.io,
    values.json === true,
    result,
    `removed ${result.factors_removed} second factor(s) (${result.passkeys_removed} of them passkeys) and every recovery code of ${result.username}`,
  );
}

export const mfaCommands: CommandSpec[] = [
  {
    name: 'user factors',
    synopsis: '--username U',
    summary: 'List a person\'s second factors and passkeys (never their secrets) and how many recovery codes are left.',
    flags: { username: USERNAME },
    example: 'tessera user factors --username alice',
    run: userFactors,
  },
  {
    name: 'user reset-mfa',
    synopsis: '--username U',
    summary: 'Remove every second factor, passkey and recovery code of a person (a lost phone or key); audited, the person is emailed.',
    flags: { username: USERNAME },
    example: 'tessera user reset-mfa --username alice',
    run: userResetMfa,
  },
];
