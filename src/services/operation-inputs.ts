// What each operation takes, as zod schemas: the control socket (src/control-socket.ts) parses what a CLI
// process sends against these before the service runs, so no operation gets a value of the wrong kind. The
// admin API parses its own wire shapes (http/admin/schemas.ts) and maps them to the same inputs. Each
// schema is checked against the operation's TypeScript input (the `satisfies` at the end): a service
// whose input changes without its schema does not compile. What a value may be beyond its kind (a
// username's characters, a URI's scheme) stays the domain's rule, the same for every caller.
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { AUTH_METHODS } from '../domain/client-metadata.ts';
import { PROVISIONING, UPSTREAM_KINDS } from '../domain/upstreams.ts';
import type { OperationInput, OperationName } from './operations.ts';

const id = z.string().min(1).max(1024);
const strings = z.array(z.string().max(2048)).max(1000);
/** Operations without input: the CLI sends {} for them. */
const nothing = z.union([z.undefined(), z.object({}).strict()]).transform(() => undefined);
const page = { limit: z.number().int().optional(), cursor: z.string().max(1024).optional() };
const pageInput = z.object(page).strict().optional();
const user = z.object({ user: id }).strict();
const client = z.object({ clientId: id }).strict();
const upstreamId = z.object({ id }).strict();

const clientFields = {
  redirectUris: strings,
  postLogoutRedirectUris: strings,
  grantTypes: strings,
  scope: z.string().max(8192),
  authMethod: z.enum(AUTH_METHODS),
  jwksUri: z.string().max(2048),
  jwks: z.object({ keys: z.array(z.unknown()).max(100) }),
  backchannelLogoutUri: z.string().max(2048),
  firstParty: z.boolean(),
  logoUri: z.string().max(2048),
  policyUri: z.string().max(2048),
  tosUri: z.string().max(2048),
  clientUri: z.string().max(2048),
  defaultResource: z.string().max(2048),
  requireDpop: z.boolean(),
  tokenExchangeAudiences: strings,
  allowImpersonation: z.boolean(),
  requireMfa: z.boolean(),
};
const optional = <T extends z.ZodRawShape>(shape: T) =>
  Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, (v as z.ZodType).optional()])) as unknown as { [K in keyof T]: z.ZodOptional<T[K]> };
const nullable = <T extends z.ZodRawShape>(shape: T) =>
  Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, (v as z.ZodType).nullable().optional()])) as unknown as { [K in keyof T]: z.ZodOptional<z.ZodNullable<T[K]>> };

const resourceServer = z
  .object({
    identifier: id,
    name: z.string().max(200).optional(),
    scopes: z.array(z.object({ name: z.string().max(200), description: z.string().max(1000).optional() }).strict()).max(1000).optional(),
    format: z.string().max(20).optional(),
    ttl: z.number().int().optional(),
    alg: z.string().max(20).optional(),
  })
  .strict();

const upstream = z
  .object({
    id,
    kind: z.enum(UPSTREAM_KINDS).optional(),
    displayName: z.string().max(200).optional(),
    issuer: z.string().max(2048).optional(),
    clientId: z.string().max(1024).optional(),
    clientSecret: z.string().max(4096).optional(),
    scopes: z.string().max(2048).optional(),
    claimMapping: z.record(z.string().max(100), z.string().max(200)).optional(),
    provisioning: z.enum(PROVISIONING).optional(),
    defaultRoles: strings.optional(),
    enabled: z.boolean().optional(),
  })
  .strict();

const inputs = {
  migrate: nothing,
  doctor: nothing,
  'keys.list': nothing,
  'upstream.list': nothing,
  'user.create': z.object({ username: z.string().max(1024), password: z.string().max(4096), email: z.string().max(1024).optional(), name: z.string().max(1024).optional() }).strict(),
  'user.show': user,
  'user.disable': user,
  'user.enable': user,
  'user.delete': user,
  'user.end-sessions': user,
  'user.set-password': z.object({ user: id, password: z.string().max(4096) }).strict(),
  'user.add-role': z.object({ user: id, roles: strings }).strict(),
  'user.remove-role': z.object({ user: id, roles: strings }).strict(),
  'user.change-roles': z.object({ user: id, add: strings.optional(), remove: strings.optional() }).strict(),
  'user.update': z
    .object({ user: id, username: z.string().max(1024).optional(), email: z.string().max(1024).nullable().optional(), name: z.string().max(1024).nullable().optional(), emailVerified: z.boolean().optional() })
    .strict(),
  'user.list': pageInput,
  'user.sessions': z.object({ user: id, ...page }).strict(),
  'session.list': z.object({ user: id.optional(), ...page }).strict().optional(),
  'session.end': z.object({ uid: id }).strict(),
  'grant.list': z.object({ user: id.optional(), client: id.optional(), ...page }).strict().optional(),
  'grant.revoke': z.object({ grantId: id }).strict(),
  'client.create': z.object({ name: z.string().max(1024), introspects: z.string().max(2048).optional(), ...optional(clientFields) }).strict(),
  'client.update': z.object({ clientId: id, name: z.string().max(1024).optional(), ...nullable(clientFields) }).strict(),
  'client.get': client,
  'client.list': pageInput,
  'client.disable': client,
  'client.enable': client,
  'client.delete': client,
  'client.rotate-secret': z.object({ clientId: id, graceSeconds: z.number().int().optional() }).strict(),
  'resource.create': resourceServer,
  'resource.update': resourceServer,
  'resource.get': z.object({ identifier: id }).strict(),
  'resource.delete': z.object({ identifier: id }).strict(),
  'resource.list': pageInput,
  'iat.create': z.object({ expiresIn: z.number().int().optional(), maxUses: z.number().int().optional(), scopes: strings.optional(), grantTypes: strings.optional() }).strict(),
  'iat.list': pageInput,
  'iat.delete': z.object({ id }).strict(),
  'audit.list': z.object({ since: z.string().max(100).optional(), until: z.string().max(100).optional(), actor: z.string().max(1024).optional(), type: z.string().max(200).optional(), ...page }).strict().optional(),
  'admin.bootstrap': z.object({ force: z.boolean().optional() }).strict().optional(),
  'keys.rotate': z.object({ mode: z.enum(['scheduled', 'now', 'emergency']).optional(), alg: z.string().max(20).optional(), purpose: z.enum(['signing', 'cookie']).optional(), actor: z.string().max(200).optional() }).strict(),
  'keys.retire': z.object({ kid: id, immediately: z.boolean().optional(), actor: z.string().max(200).optional() }).strict(),
  'upstream.create': upstream,
  'upstream.update': upstream,
  'upstream.get': upstreamId,
  'upstream.delete': upstreamId,
  'user.factors': user,
  'user.remove-factor': z.object({ user: id, factor: z.string().min(1).max(64), actor: z.string().max(200).optional() }).strict(),
  'user.reset-mfa': z.object({ user: id, actor: z.string().max(200).optional() }).strict(),
} satisfies { [N in OperationName]: z.ZodType<OperationInput<N>, unknown> };

/** The operation's input from untrusted JSON, or a ValidationError naming the fields that are wrong. */
export function parseOperationInput<N extends OperationName>(name: N, input: unknown): OperationInput<N> {
  const parsed = (inputs[name] as z.ZodType<OperationInput<N>>).safeParse(input ?? undefined);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), message: i.message }));
  const words = details.map((d) => `${d.path.join('.') || '(input)'}: ${d.message}`).join('; ');
  throw new ValidationError(`the input of ${name} is not valid: ${words}`, 400, details);
}
