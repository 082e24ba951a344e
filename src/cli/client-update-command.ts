// `tessera client update`: change an existing client through the same rules as `client create` (the
// `client.update` operation the admin API's PATCH runs too). What is not given stays as it is. Carries what
// operators most need to flip on an existing client: whether it must use DPoP (RFC 9449), and the token
// exchange policy (RFC 8693; domain/token-exchange.ts), which only operators set.
import { print } from './io.ts';
import { UsageError } from './output.ts';
import { runOperation } from './run-operation.ts';
import { string, strings, type CommandContext, type CommandSpec, type FlagSpec, type FlagValues } from './command.ts';
import type { ClientChanges } from '../domain/clients.ts';

export const TOKEN_EXCHANGE_FLAGS: Record<string, FlagSpec> = {
  'token-exchange-audience': {
    type: 'string',
    value: 'URI',
    multiple: true,
    help: 'token exchange (RFC 8693): an API (resource server identifier) this client may exchange people\'s tokens into',
  },
  'allow-impersonation': { type: 'boolean', help: 'token exchange without actor_token: the token then carries no act claim (off by default)' },
};

async function clientUpdate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const clientId = string(values, 'client-id');
  if (!clientId) throw new UsageError('client update needs --client-id');
  if (values['require-dpop'] && values['no-require-dpop']) throw new UsageError('give --require-dpop or --no-require-dpop, not both');
  if (values['allow-impersonation'] && values['forbid-impersonation']) throw new UsageError('give --allow-impersonation or --forbid-impersonation, not both');
  if (strings(values, 'token-exchange-audience')?.length && values['no-token-exchange']) throw new UsageError('give --token-exchange-audience or --no-token-exchange, not both');
  const changes: ClientChanges = {};
  const name = string(values, 'name');
  if (name !== undefined) changes.name = name;
  const grantTypes = strings(values, 'grant-type');
  if (grantTypes?.length) changes.grantTypes = grantTypes;
  const scope = string(values, 'scope');
  if (scope !== undefined) changes.scope = scope;
  const audiences = strings(values, 'token-exchange-audience');
  if (audiences?.length) changes.tokenExchangeAudiences = audiences;
  if (values['no-token-exchange']) {
    changes.tokenExchangeAudiences = null;
    changes.allowImpersonation = null;
  }
  if (values['allow-impersonation']) changes.allowImpersonation = true;
  if (values['forbid-impersonation']) changes.allowImpersonation = null;
  if (values['require-dpop']) changes.requireDpop = true;
  if (values['no-require-dpop']) changes.requireDpop = false;
  if (values['require-mfa'] && values['no-require-mfa']) throw new UsageError('give --require-mfa or --no-require-mfa, not both');
  if (values['require-mfa']) changes.requireMfa = true;
  if (values['no-require-mfa']) changes.requireMfa = false;
  if (Object.keys(changes).length === 0) throw new UsageError('client update needs something to change');
  const client = await runOperation(ctx, 'client.update', { clientId, ...changes });
  const exchange = client.token_exchange_audiences.length
    ? `token exchange into ${client.token_exchange_audiences.join(', ')}${client.token_exchange_impersonation ? ' (impersonation allowed)' : ''}`
    : 'no token exchange';
  const dpop = client.dpop_bound_access_tokens ? 'DPoP required for every token' : 'DPoP optional';
  const mfa = client.require_mfa ? 'second factor required to sign in' : 'second factor as each person\'s policy says';
  print(ctx.io, values.json === true, client, `updated client ${client.client_id}\n${dpop}\n${exchange}\n${mfa}`);
}

export const clientUpdateCommands: CommandSpec[] = [
  {
    name: 'client update',
    synopsis:
      '--client-id ID [--name N] [--grant-type G]... [--scope "s1 s2"] [--require-dpop | --no-require-dpop] [--token-exchange-audience URI]... ' +
      '[--allow-impersonation | --forbid-impersonation] [--no-token-exchange] [--require-mfa | --no-require-mfa]',
    summary: 'Change a client; what is not given stays as it is. A list given (grant types, audiences) replaces the old one.',
    flags: {
      'client-id': { type: 'string', value: 'ID', help: 'the client (required)' },
      name: { type: 'string', value: 'N', help: 'the name people see on the consent page' },
      'grant-type': { type: 'string', value: 'G', multiple: true, help: `its grant types, all of them (e.g. urn:ietf:params:oauth:grant-type:token-exchange)` },
      scope: { type: 'string', value: '"s1 s2"', help: 'the scopes it may ask for, all of them' },
      'require-dpop': { type: 'boolean', help: 'refuse token requests without a DPoP proof (dpop_bound_access_tokens, RFC 9449)' },
      'no-require-dpop': { type: 'boolean', help: 'accept plain bearer token requests again' },
      ...TOKEN_EXCHANGE_FLAGS,
      'forbid-impersonation': { type: 'boolean', help: 'token exchange only with actor_token again (the default)' },
      'no-token-exchange': { type: 'boolean', help: 'remove its token exchange policy (audiences and impersonation)' },
      'require-mfa': { type: 'boolean', help: 'everyone signing in to it needs a second factor (tessera_require_mfa)' },
      'no-require-mfa': { type: 'boolean', help: 'a second factor only as each person\'s policy says again' },
    },
    example: 'tessera client update --client-id 6wFQs3kQmZbG0aVT --grant-type authorization_code --grant-type urn:ietf:params:oauth:grant-type:token-exchange --token-exchange-audience https://api.example.com',
    run: clientUpdate,
  },
];
