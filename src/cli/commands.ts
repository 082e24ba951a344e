// The commands `serve`, `migrate`, `user …`, `client …` (but rotate-secret), `resource …` and `iat create`:
// each declares its flags (with their help) and parses nothing itself; it calls an operation (never SQL) and
// prints the result, as JSON with --json. These names and flags are an interface: keep them stable.
// Modules a command needs only when it runs (the server, the services) are imported inside it, so that
// `--help`, `--version` and a command answered by the serving process load little (run-operation.ts).
import type { AuthMethod } from '../domain/clients.ts';
import { print, readStdin } from './io.ts';
import { UsageError } from './output.ts';
import type { OperationResult } from '../services/operations.ts';
import { MAX_PAGE_SIZE } from '../services/page-size.ts';
import { allPages, runOperation } from './run-operation.ts';
import { TOKEN_EXCHANGE_FLAGS } from './client-update-command.ts';
import { string, strings, type CommandContext, type CommandSpec, type FlagSpec, type FlagValues } from './command.ts';

/**
 * Runs the server until SIGTERM or SIGINT, then closes it; a second signal ends the process at once. The
 * signals are listened for from the start, so one that comes while the server starts stops it once started.
 */
async function serve(ctx: CommandContext): Promise<number> {
  let resolveSignal!: (signal: NodeJS.Signals) => void;
  const signalled = new Promise<NodeJS.Signals>((resolve) => (resolveSignal = resolve));
  const on = (signal: NodeJS.Signals) => {
    process.off('SIGTERM', on);
    process.off('SIGINT', on);
    resolveSignal(signal);
  };
  process.on('SIGTERM', on);
  process.on('SIGINT', on);
  try {
    const { startServer } = await import('../server.ts');
    const server = await startServer(ctx.config, ctx.logger);
    const signal = await signalled;
    ctx.logger.info({ signal }, 'shutting down');
    await server.close();
    return 0;
  } finally {
    process.off('SIGTERM', on);
    process.off('SIGINT', on);
  }
}

async function migrate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const { applied } = await runOperation(ctx, 'migrate', undefined);
  print(ctx.io, values.json === true, { applied }, applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
}

async function userCreate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const username = string(values, 'username');
  if (!username) throw new UsageError('user create needs --username');
  if (!values['password-stdin']) throw new UsageError('user create needs --password-stdin (passwords are never taken as arguments)');
  const password = await readStdin(ctx.io);
  const account = await runOperation(ctx, 'user.create', { username, password, email: string(values, 'email'), name: string(values, 'name') });
  print(ctx.io, values.json === true, { id: account.id, username: account.username, email: account.email, name: account.name }, `created user ${account.username} (${account.id})`);
}

async function clientCreate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const name = string(values, 'name');
  if (!name) throw new UsageError('client create needs --name');
  let jwks: { keys: unknown[] } | undefined;
  if (values.jwks) {
    try {
      jwks = JSON.parse(values.jwks as string);
    } catch {
      throw new UsageError('--jwks must be a JSON Web Key Set');
    }
  }
  const metadata = await runOperation(ctx, 'client.create', {
    name,
    redirectUris: strings(values, 'redirect-uri'),
    postLogoutRedirectUris: strings(values, 'post-logout-redirect-uri'),
    grantTypes: strings(values, 'grant-type'),
    scope: string(values, 'scope'),
    authMethod: string(values, 'auth-method') as AuthMethod | undefined,
    jwksUri: string(values, 'jwks-uri'),
    jwks,
    backchannelLogoutUri: string(values, 'backchannel-logout-uri'),
    firstParty: values['first-party'] === true,
    logoUri: string(values, 'logo-uri'),
    policyUri: string(values, 'policy-uri'),
    tosUri: string(values, 'tos-uri'),
    clientUri: string(values, 'client-uri'),
    defaultResource: string(values, 'default-resource'),
    requireDpop: values['require-dpop'] === true,
    tokenExchangeAudiences: strings(values, 'token-exchange-audience'),
    allowImpersonation: values['allow-impersonation'] === true,
    requireMfa: values['require-mfa'] === true,
  });
  const human = [`created client ${metadata.client_name}`, `client_id:     ${metadata.client_id}`];
  if (metadata.client_secret) human.push(`client_secret: ${metadata.client_secret}   (shown once; store it now)`);
  print(ctx.io, values.json === true, metadata, human.join('\n'));
}

type Account = OperationResult<'user.show'>;
const describeAccount = (a: Account) =>
  `${a.username} (${a.id})${a.disabled ? ' [disabled]' : ''}${a.email ? ` <${a.email}>` : ''}${a.roles.length ? ` roles: ${a.roles.join(', ')}` : ''}`;

function requireUser(values: FlagValues, command: string): string {
  const user = string(values, 'username');
  if (!user) throw new UsageError(`${command} needs --username (a username or user id)`);
  return user;
}

async function userList(ctx: CommandContext, values: FlagValues): Promise<void> {
  const users = await allPages((cursor) => runOperation(ctx, 'user.list', { limit: MAX_PAGE_SIZE, cursor }), (p) => p.users);
  print(ctx.io, values.json === true, { users }, users.length ? users.map(describeAccount).join('\n') : 'no users');
}

async function userShow(ctx: CommandContext, values: FlagValues): Promise<void> {
  const account = await runOperation(ctx, 'user.show', { user: requireUser(values, 'user show') });
  print(ctx.io, values.json === true, account, describeAccount(account));
}

function userSetDisabled(disabled: boolean) {
  return async (ctx: CommandContext, values: FlagValues): Promise<void> => {
    const user = requireUser(values, disabled ? 'user disable' : 'user enable');
    const result = disabled ? await runOperation(ctx, 'user.disable', { user }) : await runOperation(ctx, 'user.enable', { user });
    print(ctx.io, values.json === true, result, `${disabled ? 'disabled' : 'enabled'} ${describeAccount(result)}`);
  };
}

async function userEndSessions(ctx: CommandContext, values: FlagValues): Promise<void> {
  const result = await runOperation(ctx, 'user.end-sessions', { user: requireUser(values, 'user end-sessions') });
  print(ctx.io, values.json === true, result, `ended ${result.sessions_ended} session(s) of ${result.username}; ${result.logout_notifications} back-channel logout(s) delivered`);
}

async function userSetPassword(ctx: CommandContext, values: FlagValues): Promise<void> {
  const user = requireUser(values, 'user set-password');
  if (!values['password-stdin']) throw new UsageError('user set-password needs --password-stdin (passwords are never taken as arguments)');
  const result = await runOperation(ctx, 'user.set-password', { user, password: await readStdin(ctx.io) });
  print(ctx.io, values.json === true, result, `password changed for ${result.username}; ${result.sessions_ended} session(s) ended, grants revoked`);
}

function userChangeRole(add: boolean) {
  return async (ctx: CommandContext, values: FlagValues): Promise<void> => {
    const user = requireUser(values, add ? 'user add-role' : 'user remove-role');
    const roles = strings(values, 'role') ?? [];
    if (roles.length === 0) throw new UsageError('give at least one --role');
    const result = await runOperation(ctx, add ? 'user.add-role' : 'user.remove-role', { user, roles });
    print(ctx.io, values.json === true, result, describeAccount(result));
  };
}

async function clientList(ctx: CommandContext, values: FlagValues): Promise<void> {
  const clients = await allPages((cursor) => runOperation(ctx, 'client.list', { limit: MAX_PAGE_SIZE, cursor }), (p) => p.clients);
  const lines = clients.map((c) => `${c.client_id}  ${String(c['client_name'] ?? '')}${c.disabled ? ' [disabled]' : ''}`);
  print(ctx.io, values.json === true, { clients }, lines.length ? lines.join('\n') : 'no clients');
}

function clientChange(action: 'disable' | 'enable' | 'delete') {
  return async (ctx: CommandContext, values: FlagValues): Promise<void> => {
    const clientId = string(values, 'client-id');
    if (!clientId) throw new UsageError(`client ${action} needs --client-id`);
    const result = await runOperation(ctx, `client.${action}`, { clientId });
    print(ctx.io, values.json === true, result, `${action}d client ${clientId}${action === 'enable' ? '' : '; its grants and tokens are revoked'}`);
  };
}

/** --scope "read write" plus optional --describe read="Read your invoices" for the consent page. */
function scopeDefinitions(values: FlagValues): Array<{ name: string; description?: string }> | undefined {
  const scope = string(values, 'scope');
  if (scope === undefined) return undefined;
  const descriptions = new Map<string, string>();
  for (const d of strings(values, 'describe') ?? []) {
    const eq = d.indexOf('=');
    if (eq < 1) throw new UsageError('--describe takes scope=description');
    descriptions.set(d.slice(0, eq), d.slice(eq + 1));
  }
  return scope.split(/\s+/).filter(Boolean).map((name) => ({ name, ...(descriptions.has(name) ? { description: descriptions.get(name)! } : {}) }));
}

function resourceInput(values: FlagValues, command: string) {
  const identifier = string(values, 'identifier');
  if (identifier === undefined) throw new UsageError(`${command} needs --identifier URI`);
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && !Number.isInteger(ttl)) throw new UsageError('--ttl takes whole seconds');
  return { identifier, name: string(values, 'name'), scopes: scopeDefinitions(values), format: string(values, 'format'), ttl, alg: string(values, 'alg') };
}

async function resourceCreate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const r = await runOperation(ctx, 'resource.create', resourceInput(values, 'resource create'));
  const human = [
    `created resource server ${r.name} (${r.identifier}), ${r.format} access tokens for ${r.ttl}s`,
    `introspection client_id:     ${r.introspection_client.client_id}`,
    `introspection client_secret: ${r.introspection_client.client_secret}   (shown once; store it now)`,
  ];
  print(ctx.io, values.json === true, r, human.join('\n'));
}

async function resourceList(ctx: CommandContext, values: FlagValues): Promise<void> {
  const resources = await allPages((cursor) => runOperation(ctx, 'resource.list', { limit: MAX_PAGE_SIZE, cursor }), (p) => p.resources);
  const lines = resources.map((r) => `${r.identifier}  ${r.name}  [${r.scopes.map((s) => s.name).join(' ')}] ${r.format} ${r.ttl}s`);
  print(ctx.io, values.json === true, { resources }, lines.length ? lines.join('\n') : 'no resource servers');
}

async function resourceUpdate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const r = await runOperation(ctx, 'resource.update', resourceInput(values, 'resource update'));
  print(ctx.io, values.json === true, r, `updated resource server ${r.identifier}`);
}

async function resourceDelete(ctx: CommandContext, values: FlagValues): Promise<void> {
  const identifier = string(values, 'identifier');
  if (identifier === undefined) throw new UsageError('resource delete needs --identifier URI');
  const r = await runOperation(ctx, 'resource.delete', { identifier });
  print(ctx.io, values.json === true, r, `deleted resource server ${r.identifier} and its introspection client`);
}

async function iatCreate(ctx: CommandContext, values: FlagValues): Promise<void> {
  const number = (flag: string) => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(String(v))) throw new UsageError(`--${flag} takes a whole number`);
    return Number(v);
  };
  const scope = string(values, 'scope');
  const result = await runOperation(ctx, 'iat.create', {
    expiresIn: number('expires-in'),
    maxUses: number('max-uses'),
    scopes: scope === undefined ? undefined : scope.split(/\s+/).filter(Boolean),
    grantTypes: strings(values, 'grant-type'),
  });
  print(ctx.io, values.json === true, result, `initial access token: ${result.initial_access_token}   (shown once)`);
}

// ---- Declarations: usage, flags and an example per command (command.ts renders --help from them).

const USERNAME: FlagSpec = { type: 'string', value: 'U', help: 'the account: its username or its user id (required)' };
const PASSWORD_STDIN: FlagSpec = { type: 'boolean', help: 'read the password from standard input (required; never taken as an argument)' };
const CLIENT_ID: FlagSpec = { type: 'string', value: 'ID', help: 'the client (required)' };
const ROLE: FlagSpec = { type: 'string', value: 'R', multiple: true, help: 'a role name (at least one)' };

/** `resource create` and `resource update` take the same flags; an update keeps what is not given. */
const resourceFlags = (create: boolean): Record<string, FlagSpec> => {
  const byDefault = (text: string) => (create ? ` (default ${text})` : '');
  return {
    identifier: { type: 'string', value: 'URI', help: create ? 'the API\'s identifier, the audience of its tokens (required)' : 'the API to change (required)' },
    name: { type: 'string', value: 'N', help: `a display name${byDefault('the identifier\'s host')}` },
    scope: { type: 'string', value: '"s1 s2"', help: create ? 'the API\'s scopes, space-separated' : 'the API\'s scopes, space-separated (replaces them)' },
    describe: { type: 'string', value: 's1="…"', multiple: true, help: 'a scope\'s description on the consent page (with --scope)' },
    format: { type: 'string', value: 'jwt|opaque', help: `access-token format${byDefault('jwt')}` },
    ttl: { type: 'string', value: 'S', help: `access-token lifetime in seconds${byDefault('600')}` },
    alg: { type: 'string', value: 'ES256|RS256|EdDSA', help: `JWT access-token signing algorithm${byDefault('ES256')}` },
  };
};

export const coreCommands: CommandSpec[] = [
  {
    name: 'serve',
    synopsis: '',
    summary: 'Start the server (what `npm start` runs). In embedded mode it creates TESSERA_DATA_DIR when it does not exist.',
    flags: {},
    json: false,
    init: false,
    example: 'PORT=3000 ISSUER=https://id.example.com tessera serve',
    run: serve,
  },
  {
    name: 'migrate',
    synopsis: '',
    summary: 'Apply pending database migrations (`serve` also migrates on start).',
    flags: {},
    example: 'DATABASE_URL=postgres://tessera@db/tessera TESSERA_SECRET=… tessera migrate --json',
    run: migrate,
  },
  {
    name: 'user create',
    synopsis: '--username U [--email E] [--name N] --password-stdin',
    summary: 'Create an account; prints its id and username.',
    flags: {
      username: { type: 'string', value: 'U', help: 'the new account\'s username (required)' },
      email: { type: 'string', value: 'E', help: 'email address' },
      name: { type: 'string', value: 'N', help: 'full name' },
      'password-stdin': PASSWORD_STDIN,
    },
    example: 'printf %s "$PASSWORD" | tessera user create --username alice --email alice@example.com --password-stdin',
    run: userCreate,
  },
  { name: 'user list', synopsis: '', summary: 'List every account.', flags: {}, example: 'tessera user list --json', run: userList },
  { name: 'user show', synopsis: '--username U', summary: 'Show one account (U is a username or a user id).', flags: { username: USERNAME }, example: 'tessera user show --username alice', run: userShow },
  {
    name: 'user disable',
    synopsis: '--username U',
    summary: 'Disable an account: ends its sessions, revokes its grants, sends back-channel logout.',
    flags: { username: USERNAME },
    example: 'tessera user disable --username alice',
    run: userSetDisabled(true),
  },
  { name: 'user enable', synopsis: '--username U', summary: 'Enable a disabled account again.', flags: { username: USERNAME }, example: 'tessera user enable --username alice', run: userSetDisabled(false) },
  {
    name: 'user end-sessions',
    synopsis: '--username U',
    summary: 'Sign the person out everywhere (back-channel logout); their grants stay.',
    flags: { username: USERNAME },
    example: 'tessera user end-sessions --username alice',
    run: userEndSessions,
  },
  {
    name: 'user set-password',
    synopsis: '--username U --password-stdin',
    summary: 'Set a new password; also ends the person\'s sessions and revokes their grants.',
    flags: { username: USERNAME, 'password-stdin': PASSWORD_STDIN },
    example: 'printf %s "$PASSWORD" | tessera user set-password --username alice --password-stdin',
    run: userSetPassword,
  },
  {
    name: 'user add-role',
    synopsis: '--username U --role R [--role R]...',
    summary: 'Give an account roles.',
    flags: { username: USERNAME, role: ROLE },
    example: 'tessera user add-role --username alice --role admin --role billing',
    run: userChangeRole(true),
  },
  {
    name: 'user remove-role',
    synopsis: '--username U --role R [--role R]...',
    summary: 'Take roles away from an account.',
    flags: { username: USERNAME, role: ROLE },
    example: 'tessera user remove-role --username alice --role billing',
    run: userChangeRole(false),
  },
  {
    name: 'client create',
    synopsis:
      '--name N [--redirect-uri URL]... [--post-logout-redirect-uri URL]... [--grant-type G]... [--scope "s1 s2"] ' +
      '[--auth-method client_secret_basic|client_secret_post|none|private_key_jwt] [--jwks-uri URL | --jwks JSON] [--backchannel-logout-uri URL] ' +
      '[--first-party] [--logo-uri URL] [--policy-uri URL] [--tos-uri URL] [--client-uri URL] [--default-resource URI] [--require-dpop] ' +
      '[--token-exchange-audience URI]... [--allow-impersonation] [--require-mfa]',
    summary: 'Register a client; prints its metadata with client_id and, once, client_secret.',
    flags: {
      name: { type: 'string', value: 'N', help: 'the name people see on the consent page (required)' },
      'redirect-uri': { type: 'string', value: 'URL', multiple: true, help: 'where the authorization code is sent: https, loopback http, or a private-use scheme' },
      'post-logout-redirect-uri': { type: 'string', value: 'URL', multiple: true, help: 'where people may be sent after signing out' },
      'grant-type': { type: 'string', value: 'G', multiple: true, help: 'default: authorization_code refresh_token with redirect URIs, else client_credentials; urn:ietf:params:oauth:grant-type:device_code (with refresh_token, --auth-method none) for CLI tools and TVs' },
      scope: { type: 'string', value: '"s1 s2"', help: 'scopes the client may ask for (default: openid profile email offline_access)' },
      'auth-method': { type: 'string', value: 'M', help: 'token endpoint authentication: client_secret_basic (default), client_secret_post, none, private_key_jwt' },
      'jwks-uri': { type: 'string', value: 'URL', help: 'private_key_jwt: where the client publishes its keys' },
      jwks: { type: 'string', value: 'JSON', help: 'private_key_jwt: the client\'s JSON Web Key Set, inline' },
      'backchannel-logout-uri': { type: 'string', value: 'URL', help: 'where logout tokens are delivered when a session ends' },
      'first-party': { type: 'boolean', help: 'your own app: skips the consent page' },
      'logo-uri': { type: 'string', value: 'URL', help: 'logo shown on the consent page (https)' },
      'policy-uri': { type: 'string', value: 'URL', help: 'privacy policy linked from the consent page (https)' },
      'tos-uri': { type: 'string', value: 'URL', help: 'terms of service linked from the consent page (https)' },
      'client-uri': { type: 'string', value: 'URL', help: 'the app\'s home page, linked from the consent page (https)' },
      'default-resource': { type: 'string', value: 'URI', help: 'the API (resource indicator) its tokens are for when it names none' },
      'require-dpop': { type: 'boolean', help: 'every token request must carry a DPoP proof; tokens are bound to its key (RFC 9449)' },
      ...TOKEN_EXCHANGE_FLAGS,
      'require-mfa': { type: 'boolean', help: 'everyone signing in to it needs a second factor (authenticator app)' },
    },
    example: 'tessera client create --name "Web App" --redirect-uri https://app.example.com/callback --json',
    run: clientCreate,
  },
  { name: 'client list', synopsis: '', summary: 'List every client (never their secrets).', flags: {}, example: 'tessera client list', run: clientList },
  {
    name: 'client disable',
    synopsis: '--client-id ID',
    summary: 'Disable a client: every grant and token of it is revoked.',
    flags: { 'client-id': CLIENT_ID },
    example: 'tessera client disable --client-id 6wFQs3kQmZbG0aVT',
    run: clientChange('disable'),
  },
  {
    name: 'client enable',
    synopsis: '--client-id ID',
    summary: 'Enable a disabled client again (its revoked tokens stay revoked).',
    flags: { 'client-id': CLIENT_ID },
    example: 'tessera client enable --client-id 6wFQs3kQmZbG0aVT',
    run: clientChange('enable'),
  },
  {
    name: 'client delete',
    synopsis: '--client-id ID',
    summary: 'Revoke every grant and token of a client, then delete it.',
    flags: { 'client-id': CLIENT_ID },
    example: 'tessera client delete --client-id 6wFQs3kQmZbG0aVT',
    run: clientChange('delete'),
  },
  {
    name: 'resource create',
    synopsis: '--identifier URI --scope "s1 s2" [--describe s1="…"]... [--name N] [--format jwt|opaque] [--ttl S] [--alg ES256|RS256|EdDSA]',
    summary: 'Register an API (an RFC 8707 audience) and its introspection client, whose secret is shown once.',
    flags: resourceFlags(true),
    example: 'tessera resource create --identifier https://api.example.com --scope "invoices:read invoices:write" --describe invoices:read="Read your invoices"',
    run: resourceCreate,
  },
  { name: 'resource list', synopsis: '', summary: 'List every API.', flags: {}, example: 'tessera resource list --json', run: resourceList },
  {
    name: 'resource update',
    synopsis: '--identifier URI [--scope "s1 s2"] [--describe s1="…"]... [--name N] [--format jwt|opaque] [--ttl S] [--alg ES256|RS256|EdDSA]',
    summary: 'Change an API; what is not given stays as it is.',
    flags: resourceFlags(false),
    example: 'tessera resource update --identifier https://api.example.com --ttl 300',
    run: resourceUpdate,
  },
  {
    name: 'resource delete',
    synopsis: '--identifier URI',
    summary: 'Delete an API and its introspection client; its tokens are revoked.',
    flags: { identifier: { type: 'string', value: 'URI', help: 'the API to delete (required)' } },
    example: 'tessera resource delete --identifier https://api.example.com',
    run: resourceDelete,
  },
  {
    name: 'iat create',
    synopsis: '[--expires-in S] [--max-uses N] [--scope "s1 s2"] [--grant-type G]...',
    summary: 'Issue an initial access token for dynamic client registration (shown once); its rules bind the clients registered with it.',
    flags: {
      'expires-in': { type: 'string', value: 'S', help: 'lifetime in seconds, at least 60 (default: no expiry)' },
      'max-uses': { type: 'string', value: 'N', help: 'how many registrations it allows (default: no limit)' },
      scope: { type: 'string', value: '"s1 s2"', help: 'the most a client registered with it may hold' },
      'grant-type': { type: 'string', value: 'G', multiple: true, help: 'a grant type its clients may use' },
    },
    example: 'tessera iat create --expires-in 86400 --max-uses 1 --scope "openid profile"',
    run: iatCreate,
  },
];
