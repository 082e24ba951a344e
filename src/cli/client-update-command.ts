// `tessera client update`: changes a client's settings through the same operation the admin API's PATCH uses
// (services client.update → domain/clients.ts updateClient, which checks the whole metadata again). For now
// it changes what operators most need to flip on an existing client: whether it must use DPoP (RFC 9449).
import { print } from './io.ts';
import { UsageError } from './output.ts';
import { runOperation } from './run-operation.ts';
import { string, type CommandContext, type CommandSpec, type FlagValues } from './command.ts';

async function clientUpdate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const clientId = string(values, 'client-id');
  if (!clientId) throw new UsageError('client update needs --client-id');
  if (values['require-dpop'] && values['no-require-dpop']) throw new UsageError('give --require-dpop or --no-require-dpop, not both');
  const requireDpop = values['require-dpop'] ? true : values['no-require-dpop'] ? false : undefined;
  if (requireDpop === undefined) throw new UsageError('client update needs a change (--require-dpop or --no-require-dpop)');
  const result = await runOperation(ctx, 'client.update', { clientId, requireDpop });
  print(ctx.io, values.json === true, result, `updated client ${clientId}: ${requireDpop ? 'DPoP required for every token' : 'DPoP optional'}`);
}

export const clientUpdateCommands: CommandSpec[] = [
  {
    name: 'client update',
    synopsis: '--client-id ID (--require-dpop | --no-require-dpop)',
    summary: 'Change a client: whether every token it gets must be bound to a DPoP key (RFC 9449).',
    flags: {
      'client-id': { type: 'string', value: 'ID', help: 'the client (required)' },
      'require-dpop': { type: 'boolean', help: 'refuse token requests without a DPoP proof (dpop_bound_access_tokens)' },
      'no-require-dpop': { type: 'boolean', help: 'accept plain bearer token requests again' },
    },
    example: 'tessera client update --client-id 6wFQs3kQmZbG0aVT --require-dpop',
    run: clientUpdate,
  },
];
