// The only reader of process.env. Parsed once at start, frozen, passed explicitly.
import { z } from 'zod';
import { isPrivilegedScope } from './domain/scope-privileges.ts';
import { isScopeToken } from './domain/wire-syntax.ts';
import { isHostPattern } from './domain/client-id-metadata-documents.ts';

const seconds = (fallback: number) => z.coerce.number().int().positive().max(10 * 365 * 24 * 3600).default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A boolean with no default, to tell "not set" apart (an old name kept as an alias). */
const optionalBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .optional()
  .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1' || v === 'yes'));

const absoluteHttpUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL without query or fragment');

/** Host names, separated by commas or spaces: `example.com` (that host) or `*.example.com` (its subdomains). */
const hostList = z
  .string()
  .max(8192)
  .transform((v) => v.toLowerCase().split(/[\s,]+/).filter(Boolean))
  .refine((hosts) => hosts.every(isHostPattern), 'must be host names (example.com) or subdomain patterns (*.example.com), separated by commas or spaces')
  .default([]);

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  ISSUER: absoluteHttpUrl.optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  TESSERA_DATA_DIR: z.string().min(1).default('./.data'),
  TESSERA_SECRET: z.string().min(32, 'must be at least 32 characters (use: openssl rand -base64 48)').optional(),
  TRUST_PROXY: bool(false),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ACCESS_TOKEN_TTL: seconds(600),
  ID_TOKEN_TTL: seconds(3600),
  REFRESH_TOKEN_TTL: seconds(14 * 24 * 3600),
  REFRESH_REUSE_GRACE: z.coerce.number().int().min(0).max(60).default(10),
  AUTHORIZATION_CODE_TTL: seconds(60),
  SESSION_TTL: seconds(14 * 24 * 3600),
  SESSION_IDLE_TTL: seconds(24 * 3600),
  INTERACTION_TTL: seconds(1800),
  DEVICE_CODE_TTL: z.coerce.number().int().min(60).max(3600).default(600),
  DEVICE_POLL_INTERVAL: z.coerce.number().int().min(1).max(60).default(5),
  DEVICE_CODE_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).max(10000).default(20),
  DEFAULT_AUDIENCE: absoluteHttpUrl.optional(),
  SELF_REGISTRATION: bool(false),
  REGISTRATION_POLICY: z.enum(['disabled', 'initial-access-token', 'open']).default('initial-access-token'),
  REGISTRATION_OPEN_SCOPES: z
    .string()
    .max(4096)
    .refine((v) => v.split(' ').filter(Boolean).every(isScopeToken), 'must be space-separated scope tokens (RFC 6749 §3.3)')
    .refine((v) => !v.split(' ').some(isPrivilegedScope), 'must not name admin: scopes or revocations:read (never obtainable by registration)')
    .default(''),
  BACKCHANNEL_LOGOUT_ALLOW_PRIVATE: optionalBool,
  /** The old name of BACKCHANNEL_LOGOUT_ALLOW_PRIVATE, still accepted. */
  OUTBOUND_ALLOW_PRIVATE: optionalBool,
  REGISTRATION_FETCH_ALLOW_PRIVATE: bool(false),
  // Client ID Metadata Documents (oidc/client-id-metadata-documents.ts): off unless the operator turns them on.
  CLIENT_ID_METADATA_DOCUMENTS: bool(false),
  CLIENT_ID_METADATA_DOCUMENT_ALLOWED_HOSTS: hostList,
  CLIENT_ID_METADATA_DOCUMENT_DENIED_HOSTS: hostList,
  CLIENT_ID_METADATA_DOCUMENT_SCOPES: z
    .string()
    .max(4096)
    .refine((v) => v.split(/[\s,]+/).filter(Boolean).every(isScopeToken), 'must be space-separated scope tokens (RFC 6749 §3.3)')
    .refine((v) => !v.split(/[\s,]+/).some(isPrivilegedScope), 'must not name admin: scopes or revocations:read (never held by such clients)')
    .default(''),
  CLIENT_ID_METADATA_DOCUMENT_FETCHES_PER_MINUTE: z.coerce.number().int().min(1).max(10000).default(20),
  ROLES_IN_TOKENS: bool(true),
  DPOP_REQUIRE_NONCE: bool(true),
  LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100000).default(100),
  LOGIN_LOCK_SECONDS: seconds(60),
  CLEANUP_INTERVAL: seconds(60),
  CLOCK_TOLERANCE: z.coerce.number().int().min(0).max(300).default(15),
  KEY_ROTATION_INTERVAL: seconds(30 * 24 * 3600),
  KEY_PREPUBLISH: seconds(24 * 3600),
  KEY_POLL_INTERVAL: z.coerce.number().int().min(1).max(60).default(30),
  JWKS_MAX_AGE: seconds(900),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  UPSTREAM_ALLOW_HTTP: bool(false),
  UPSTREAM_TIMEOUT: z.coerce.number().int().min(1).max(60).default(5),
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).max(36500).default(90),
  FEED_MAX_STREAMS_PER_CLIENT: z.coerce.number().int().min(1).max(1000).default(4),
  SHUTDOWN_DELAY: z.coerce.number().int().min(0).max(300).default(0),
  SHUTDOWN_TIMEOUT: z.coerce.number().int().min(1).max(600).default(10),
  CLIENT_SECRET_GRACE: z.coerce.number().int().min(0).max(90 * 24 * 3600).default(24 * 3600),
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(19456).max(4 * 1024 * 1024).default(19456),
  ARGON2_TIME_COST: z.coerce.number().int().min(2).max(20).default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  MFA_REQUIRED: z.enum(['all', 'none'], { error: 'must be all or none' }).default('none'),
  MFA_REQUIRED_ROLES: z
    .string()
    .default('')
    .refine((s) => s.split(',').every((r) => r.trim() === '' || /^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/.test(r.trim())), 'must be role names separated by commas'),
  // Email (services/mailer.ts, docs/accounts.md): SMTP, or an outbox directory of .eml files.
  SMTP_URL: z
    .string()
    .max(2048)
    .refine((v) => {
      try {
        const u = new URL(v);
        return (u.protocol === 'smtp:' || u.protocol === 'smtps:') && u.hostname.length > 0;
      } catch {
        return false;
      }
    }, 'must be an smtp:// or smtps:// URL (smtp://user:pass@host:587)')
    .optional(),
  MAIL_FROM: z
    .string()
    .max(320)
    .refine((v) => !/[\r\n\p{Cc}]/u.test(v) && /@/.test(v), 'must be one sender address, e.g. "Tessera <no-reply@example.com>"')
    .optional(),
  MAIL_OUTBOX_DIR: z.string().min(1).max(4096).optional(),
});

type EnvValues = z.output<typeof envSchema>;

/** The configuration as the code reads it, from the validated environment. Config is this shape, read-only. */
function configFrom(e: EnvValues) {
  const issuer = (e.ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/$/, '');
  return {
    port: e.PORT,
    host: e.HOST,
    issuer,
    /** `undefined` means embedded PostgreSQL (PGlite) under `dataDir`. */
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    dataDir: e.TESSERA_DATA_DIR,
    /** `undefined` only in embedded mode, where a development secret is generated under `dataDir`. */
    secret: e.TESSERA_SECRET,
    trustProxy: e.TRUST_PROXY,
    logLevel: e.LOG_LEVEL,
    ttl: {
      accessToken: e.ACCESS_TOKEN_TTL,
      idToken: e.ID_TOKEN_TTL,
      refreshToken: e.REFRESH_TOKEN_TTL,
      /**
       * Seconds after a refresh token is rotated during which the same client may present it again and get
       * another successor in the same grant (parallel refreshes from one relying party); after it, a replay
       * revokes the grant (RFC 9700 §4.14.2). 0: every replay revokes.
       */
      refreshReuseGrace: e.REFRESH_REUSE_GRACE,
      authorizationCode: e.AUTHORIZATION_CODE_TTL,
      /** Absolute session lifetime from sign-in. */
      session: e.SESSION_TTL,
      /** A session unused for this long ends. */
      sessionIdle: Math.min(e.SESSION_IDLE_TTL, e.SESSION_TTL),
      interaction: e.INTERACTION_TTL,
    },
    /** Whether the sign-in page offers "create an account". */
    selfRegistration: e.SELF_REGISTRATION,
    /** Dynamic client registration (RFC 7591): off, behind operator-issued initial access tokens, or open. */
    registrationPolicy: e.REGISTRATION_POLICY,
    /** REGISTRATION_POLICY=open: API scopes a self-registered client may hold (OpenID Connect scopes always). */
    registrationOpenScopes: Object.freeze(e.REGISTRATION_OPEN_SCOPES.split(' ').filter(Boolean)),
    /**
     * The engine refuses outgoing requests to loopback, private and other special-use addresses (SSRF). One
     * switch per purpose (oidc/outbound.ts): back-channel logout tokens delivered to the apps operators set up,
     * for internal deployments whose apps live on private networks (BACKCHANNEL_LOGOUT_ALLOW_PRIVATE, formerly
     * OUTBOUND_ALLOW_PRIVATE) …
     */
    backchannelLogoutAllowPrivate: e.BACKCHANNEL_LOGOUT_ALLOW_PRIVATE ?? e.OUTBOUND_ALLOW_PRIVATE ?? false,
    /**
     * … and documents fetched because a client's metadata names them — jwks_uri, sector_identifier_uri —
     * which anyone allowed to register chooses (REGISTRATION_FETCH_ALLOW_PRIVATE).
     */
    registrationFetchAllowPrivate: e.REGISTRATION_FETCH_ALLOW_PRIVATE,
    /**
     * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP's preferred way to
     * register): an https client_id whose JSON metadata Tessera fetches. Off by default; such clients are
     * unverified third parties (oidc/client-id-metadata-documents.ts, docs/agents-and-devices.md#mcp).
     */
    clientIdMetadataDocuments: {
      enabled: e.CLIENT_ID_METADATA_DOCUMENTS,
      /** Only documents on these hosts are fetched (empty: any public host). */
      allowedHosts: Object.freeze(e.CLIENT_ID_METADATA_DOCUMENT_ALLOWED_HOSTS),
      /** Documents on these hosts are never fetched (wins over the allow-list). */
      deniedHosts: Object.freeze(e.CLIENT_ID_METADATA_DOCUMENT_DENIED_HOSTS),
      /** API scopes such clients may hold (besides the OpenID Connect ones); never a privileged scope. */
      scopes: Object.freeze(e.CLIENT_ID_METADATA_DOCUMENT_SCOPES.split(/[\s,]+/).filter(Boolean)),
      /** Document fetches per host and minute, per process (cached documents are not fetched again). */
      fetchesPerHostPerMinute: e.CLIENT_ID_METADATA_DOCUMENT_FETCHES_PER_MINUTE,
    },
    /** Put `roles` and `groups` into ID and JWT access tokens when the `roles` scope is granted. */
    rolesInTokens: e.ROLES_IN_TOKENS,
    /** RFC 9449 §8: every DPoP proof sent to the server must carry a nonce it issued (DPoP-Nonce). */
    dpopRequireNonce: e.DPOP_REQUIRE_NONCE,
    loginThrottle: {
      maxFailuresPerAccount: e.LOGIN_MAX_FAILURES,
      maxFailuresPerIp: e.LOGIN_MAX_FAILURES_PER_IP,
      baseLockSeconds: e.LOGIN_LOCK_SECONDS,
    },
    /** Device authorization grant (RFC 8628; oidc/device-flow.ts). */
    deviceFlow: {
      /** How long a device code and its user code stay valid. */
      codeTtlSeconds: e.DEVICE_CODE_TTL,
      /** The polling interval advertised (RFC 8628 §3.2); polling faster is answered slow_down (§3.5). */
      pollIntervalSeconds: e.DEVICE_POLL_INTERVAL,
      /** Wrong user codes per client IP per hour before a lock-out of an hour (RFC 8628 §5.1). */
      maxFailuresPerIp: e.DEVICE_CODE_MAX_FAILURES_PER_IP,
    },
    /** Audience of access tokens issued by client_credentials when the client names no `resource`. */
    defaultAudience: e.DEFAULT_AUDIENCE ?? `${issuer}/api`,
    cleanupIntervalSeconds: e.CLEANUP_INTERVAL,
    /** Allowed clock skew when checking expiry of tokens, sessions and client assertions. */
    clockToleranceSeconds: e.CLOCK_TOLERANCE,
    keys: {
      /** How long a signing or cookie key is current before the scheduled rotation replaces it. */
      rotationIntervalSeconds: e.KEY_ROTATION_INTERVAL,
      /** How long a new key is published before it signs (covers JWKS caches and every process's poll). */
      prepublishSeconds: e.KEY_PREPUBLISH,
      /** How often each process checks the key set (and runs the schedule): at most 60 s. */
      pollSeconds: e.KEY_POLL_INTERVAL,
      /** The JWKS cache lifetime we advertise (Cache-Control max-age on /jwks). */
      jwksMaxAgeSeconds: e.JWKS_MAX_AGE,
    },
    /** How long a client's previous secret keeps working after a rotation, unless the rotation says otherwise. */
    clientSecretGraceSeconds: e.CLIENT_SECRET_GRACE,
    /** On SIGTERM, how long requests in flight may take to finish before their connections are cut. */
    shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT,
    /** On SIGTERM, how long to keep serving while /readyz says 503, before closing the listener. */
    shutdownDelaySeconds: e.SHUTDOWN_DELAY,
    /** Audit events older than this many days are deleted by the clean-up loop; 0 keeps them forever. */
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    /** Revocation-feed event streams one client may hold open at once, per process (docs/revocation-feed.md). */
    feedMaxStreamsPerClient: e.FEED_MAX_STREAMS_PER_CLIENT,
    /** Development and tests only: upstream identity providers may use http issuers on loopback addresses. */
    upstreamAllowHttp: e.UPSTREAM_ALLOW_HTTP,
    /** Seconds each request to an upstream identity provider may take (discovery, token, userinfo, GitHub's API). */
    upstreamTimeoutSeconds: e.UPSTREAM_TIMEOUT,
    /** Prometheus metrics: on a separate listener (port, bound to host), and/or on the main port behind a bearer token. */
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST, token: e.METRICS_TOKEN },
    argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
    /** Two-factor sign-in policy (services/second-factors.ts): for everyone, or for accounts holding these roles. */
    mfa: {
      requiredForAll: e.MFA_REQUIRED === 'all',
      requiredRoles: Object.freeze(e.MFA_REQUIRED_ROLES.split(',').map((r) => r.trim()).filter(Boolean)),
    },
    /**
     * Email (docs/accounts.md, "Email"): through SMTP when `smtpUrl` is set; otherwise written as .eml files to
     * `outboxDir` (MAIL_OUTBOX_DIR, or `<data dir>/outbox` in embedded mode on disk); with neither, email is
     * off ("Forgot password?" hidden, a warning at start).
     */
    mail: {
      smtpUrl: e.SMTP_URL,
      from: e.MAIL_FROM ?? `Tessera <no-reply@${new URL(issuer).hostname}>`,
      outboxDir: e.MAIL_OUTBOX_DIR ?? (!e.DATABASE_URL && e.TESSERA_DATA_DIR !== ':memory:' ? `${e.TESSERA_DATA_DIR.replace(/\/$/, '')}/outbox` : undefined),
    },
    /** The engine's own limit on request bodies is 56 KiB; we answer 413 above it. */
    bodyLimitBytes: 56 * 1024,
  };
}

type DeepReadonly<T> = { readonly [K in keyof T]: T[K] extends object ? (T[K] extends readonly unknown[] ? T[K] : DeepReadonly<T[K]>) : T[K] };

export type Config = DeepReadonly<ReturnType<typeof configFrom>>;

/** Every environment variable Tessera reads (for tools and tests that must clear or forward them). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(envSchema.shape));

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

export function parseConfig(env: Record<string, string | undefined>): ConfigResult {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`),
    };
  }
  const e = parsed.data;
  if (e.DATABASE_URL && !e.TESSERA_SECRET) {
    return {
      ok: false,
      problems: ['TESSERA_SECRET: required when DATABASE_URL is set (it encrypts keys and secrets at rest)'],
    };
  }
  // A new key must be in every cached JWKS before it signs: published on every process (one poll) and
  // fetched again by every cache (max-age) within the pre-publication window.
  if (e.KEY_PREPUBLISH < e.JWKS_MAX_AGE + e.KEY_POLL_INTERVAL) {
    return { ok: false, problems: [`KEY_PREPUBLISH: must be at least JWKS_MAX_AGE + KEY_POLL_INTERVAL (${e.JWKS_MAX_AGE + e.KEY_POLL_INTERVAL} s)`] };
  }
  if (e.BACKCHANNEL_LOGOUT_ALLOW_PRIVATE !== undefined && e.OUTBOUND_ALLOW_PRIVATE !== undefined && e.BACKCHANNEL_LOGOUT_ALLOW_PRIVATE !== e.OUTBOUND_ALLOW_PRIVATE) {
    return { ok: false, problems: ['OUTBOUND_ALLOW_PRIVATE: the old name of BACKCHANNEL_LOGOUT_ALLOW_PRIVATE, set to a different value; set only BACKCHANNEL_LOGOUT_ALLOW_PRIVATE'] };
  }
  if (e.KEY_ROTATION_INTERVAL <= e.KEY_PREPUBLISH) {
    return { ok: false, problems: ['KEY_ROTATION_INTERVAL: must be longer than KEY_PREPUBLISH'] };
  }
  return { ok: true, config: Object.freeze(configFrom(e)) };
}

/** Reads process.env; on a bad value prints one line per variable and exits 2 (no stack trace). */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  const result = parseConfig(env);
  if (!result.ok) {
    for (const problem of result.problems) process.stderr.write(`tessera: invalid configuration: ${problem}\n`);
    process.exit(2);
  }
  return result.config;
}
