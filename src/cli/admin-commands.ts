// `tessera admin bootstrap`: the first client of the admin API (http/admin/), whose secret is printed once.
import { AppError } from '../errors.ts';
import { print } from './io.ts';
import { runOperation } from './run-operation.ts';
import type { CommandContext, CommandSpec, FlagValues } from './command.ts';

async function adminBootstrap(ctx: CommandContext, values: FlagValues): Promise<void> {
  const result = await runOperation(ctx, 'admin.bootstrap', { force: values.force === true }).catch((error: unknown) => {
    // The service says what is refused; the flag that overrides it is the CLI's to name.
    if (error instanceof AppError && error.status === 409) throw new AppError(409, error.code, `${error.message}: pass --force`, true);
    throw error;
  });
  const human = [
    'created the admin API client',
    `client_id:      ${result.client_id}`,
    `client_secret:  ${result.client_secret}   (shown once; store it now)`,
    `token endpoint: ${result.token_endpoint}   (grant_type=client_credentials, scope=${result.scope})`,
    `audience:       ${result.audience}`,
  ];
  print(ctx.io, values.json === true, result, human.join('\n'));
}

export const adminCommands: CommandSpec[] = [
  {
    name: 'admin bootstrap',
    synopsis: '[--force]',
    summary: 'Create the admin API\'s first client (client_credentials, scope admin:*); its secret is shown once.',
    flags: { force: { type: 'boolean', help: 'create another even though an admin client exists (refused otherwise)' } },
    example: 'tessera admin bootstrap --json',
    run: adminBootstrap,
  },
];
