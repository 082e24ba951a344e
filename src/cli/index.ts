// `tessera <command>`: dispatch. Non-serve commands log to stderr so stdout stays machine-readable.
import { loadConfigOrExit } from '../config.ts';
import { createLogger } from '../logger.ts';
import { pino } from 'pino';
import {
  clientChange,
  clientCreate,
  clientList,
  iatCreate,
  migrate,
  resourceCreate,
  resourceDelete,
  resourceList,
  resourceUpdate,
  serve,
  userChangeRole,
  userCreate,
  userEndSessions,
  userList,
  userSetDisabled,
  userSetPassword,
  userShow,
  type CommandContext,
} from './commands.ts';
import { reportAndExit, UsageError } from './output.ts';
import { clientRotateSecret, keysList, keysRetire, keysRotate } from './key-commands.ts';
import { doctor } from './doctor-command.ts';
import { upstreamCreate, upstreamDelete, upstreamList, upstreamUpdate } from './upstream-commands.ts';
import { adminBootstrap } from './admin-commands.ts';

const USAGE = `usage: tessera <command>

  serve                                   start the server (what \`npm start\` runs)
  migrate [--json]                        apply database migrations
  doctor [--json]                         check configuration, database, migrations, keys, clock, issuer URL, data directory
  user create --username U [--email E] [--name N] --password-stdin [--json]
  user list [--json]
  user show --username U [--json]                 U is a username or a user id
  user disable --username U [--json]              ends sessions, revokes grants, back-channel logout
  user enable --username U [--json]
  user end-sessions --username U [--json]         sign out everywhere (back-channel logout); grants stay
  user set-password --username U --password-stdin [--json]   also ends sessions and revokes grants
  user add-role --username U --role R [--role R]... [--json]
  user remove-role --username U --role R [--role R]... [--json]
  client create --name N [--redirect-uri URL]... [--post-logout-redirect-uri URL]...
                [--grant-type G]... [--scope "s1 s2"]
                [--auth-method client_secret_basic|client_secret_post|none|private_key_jwt]
                [--jwks-uri URL | --jwks JSON] [--backchannel-logout-uri URL] [--first-party]
                [--logo-uri URL] [--policy-uri URL] [--tos-uri URL] [--client-uri URL]
                [--default-resource URI] [--json]
  client list [--json]
  client disable --client-id ID [--json]       revokes every grant and token of the client
  client enable --client-id ID [--json]
  client rotate-secret --client-id ID [--grace SECONDS] [--json]
                  a new secret (shown once); the old one works for the grace period
                  (default CLIENT_SECRET_GRACE), then stops
  client delete --client-id ID [--json]        revokes, then deletes
  resource create --identifier URI --scope "read write" [--describe read="Read invoices"]...
                  [--name N] [--format jwt|opaque] [--ttl 600] [--alg ES256|RS256|EdDSA] [--json]
                  also creates the API's introspection client (credentials shown once)
  iat create [--expires-in S] [--max-uses N] [--scope "s1 s2"] [--grant-type G]... [--json]
                  an initial access token for dynamic client registration (shown once)
  resource list [--json]
  resource update --identifier URI [--scope ...] [--describe ...] [--name N] [--format F] [--ttl S] [--alg A] [--json]
  resource delete --identifier URI [--json]
  upstream create --id ID --kind oidc|google|github --client-id C --client-secret-stdin
                  [--issuer URL] [--display-name N] [--scope "openid email profile"]
                  [--map username=preferred_username]... [--provisioning jit|link]
                  [--default-role R]... [--disable] [--json]
                  sign in with an upstream identity provider; prints the redirect URI to register
  upstream list [--json]
  upstream update --id ID [same flags as create; --client-secret-stdin replaces the secret] [--enable|--disable]
  upstream delete --id ID [--json]          linked identities are unlinked; accounts stay
  keys list [--json]                       signing and cookie keys and their states
  keys rotate [--alg ES256|RS256|EdDSA] [--purpose signing|cookie] [--now | --emergency] [--json]
                  default: publish the next key now, sign with it after KEY_PREPUBLISH;
                  --now: sign with it now; --emergency: also stop publishing the old key now
  keys retire --kid KID [--immediately] [--json]
  admin bootstrap [--force] [--json]      create the admin API's first client (client_credentials, scope admin:*);
                  its secret is shown once; refused when an admin client exists, unless --force

Configuration comes from environment variables; see README.md.`;

const [command, sub, ...rest] = process.argv.slice(2);

async function main(): Promise<void> {
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfigOrExit();
  const ctx: CommandContext = {
    config,
    logger: command === 'serve' ? createLogger(config.logLevel) : createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, pino.destination(2)),
  };
  const args = [sub, ...rest].filter((a): a is string => a !== undefined);
  switch (`${command} ${command === 'serve' || command === 'migrate' || command === 'doctor' ? '' : (sub ?? '')}`.trim()) {
    case 'serve':
      return serve(ctx);
    case 'migrate':
      return migrate(ctx, args);
    case 'doctor':
      return doctor(ctx, args);
    case 'user create':
      return userCreate(ctx, rest);
    case 'user list':
      return userList(ctx, rest);
    case 'user show':
      return userShow(ctx, rest);
    case 'user disable':
      return userSetDisabled(ctx, rest, true);
    case 'user enable':
      return userSetDisabled(ctx, rest, false);
    case 'user end-sessions':
      return userEndSessions(ctx, rest);
    case 'user set-password':
      return userSetPassword(ctx, rest);
    case 'user add-role':
      return userChangeRole(ctx, rest, true);
    case 'user remove-role':
      return userChangeRole(ctx, rest, false);
    case 'client create':
      return clientCreate(ctx, rest);
    case 'client list':
      return clientList(ctx, rest);
    case 'client disable':
    case 'client enable':
    case 'client delete':
      return clientChange(ctx, rest, sub as 'disable' | 'enable' | 'delete');
    case 'client rotate-secret':
      return clientRotateSecret(ctx, rest);
    case 'upstream create':
      return upstreamCreate(ctx, rest);
    case 'upstream list':
      return upstreamList(ctx, rest);
    case 'upstream update':
      return upstreamUpdate(ctx, rest);
    case 'upstream delete':
      return upstreamDelete(ctx, rest);
    case 'keys list':
      return keysList(ctx, rest);
    case 'keys rotate':
      return keysRotate(ctx, rest);
    case 'keys retire':
      return keysRetire(ctx, rest);
    case 'iat create':
      return iatCreate(ctx, rest);
    case 'admin bootstrap':
      return adminBootstrap(ctx, rest);
    case 'resource create':
      return resourceCreate(ctx, rest);
    case 'resource list':
      return resourceList(ctx, rest);
    case 'resource update':
      return resourceUpdate(ctx, rest);
    case 'resource delete':
      return resourceDelete(ctx, rest);
    default:
      throw new UsageError(`unknown command "${[command, sub].filter(Boolean).join(' ')}"\n${USAGE}`);
  }
}

main().catch(reportAndExit);
