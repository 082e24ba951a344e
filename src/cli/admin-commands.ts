// `tessera admin bootstrap`: the first client of the admin API (http/admin/), whose secret is printed once.
import { print } from './output.ts';
import { parse, runOperation, type CommandContext } from './commands.ts';

export async function adminBootstrap(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, { force: { type: 'boolean', default: false } });
  const result = await runOperation(ctx, 'admin.bootstrap', { force: values.force === true });
  const human = [
    'created the admin API client',
    `client_id:      ${result.client_id}`,
    `client_secret:  ${result.client_secret}   (shown once; store it now)`,
    `token endpoint: ${result.token_endpoint}   (grant_type=client_credentials, scope=${result.scope})`,
    `audience:       ${result.audience}`,
  ];
  print(values.json === true, result, human.join('\n'));
}
