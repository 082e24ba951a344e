// The device authorization grant (RFC 8628) on the engine's features.deviceFlow (oidc-provider docs
// "features.deviceFlow"): the engine runs the protocol — device authorization endpoint, the user-code page's
// routes and its session-bound `xsrf` token, sign-in and consent through the usual interactions, the
// device_code grant at the token endpoint. What is ours:
//   - the pages, from views/ (http/engine-pages.ts), with the host's CSP: no inline script or handler;
//   - the throttle on user-code lookups (domain/user-code-throttle.ts), run where the engine looks a code up
//     (the adapter's findByUserCode), so a request refused by the engine's CSRF check counts nothing;
//   - polling: the interval is advertised (§3.2, the engine sends none) and a device polling faster is
//     answered slow_down (§3.5; the engine defines the error but never raises it);
//   - the device code's lifetime (DEVICE_CODE_TTL).
// The PKCE rule (provider.ts `pkce.required`) is the engine's check of authorization requests only; the
// device authorization endpoint never asks it (RFC 8628 has no code_challenge).
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.ts';
import type { Db } from '../store/db.ts';
import { bearerHash } from '../store/bearer-hash.ts';
import { takePoint } from '../store/login-attempts.ts';
import type { Payload } from '../store/engine-records.ts';
import { createUserCodeThrottle, MAX_USER_CODE_LENGTH } from '../domain/user-code-throttle.ts';
import type { EnginePages, UserCodeInputView } from './engine-pages.ts';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** The engine's default routes (configuration `routes`), named here for the host and the tests. */
export const DEVICE_AUTHORIZATION_PATH = '/device/auth';
export const CODE_VERIFICATION_PATH = '/device';

const THROTTLED = Symbol('tessera.userCodeThrottled');
type ThrottledError = InstanceType<typeof errors.InvalidRequest> & { [THROTTLED]?: number };

/** What the user-code page says about the error the engine hands it (lib/helpers/re_render_errors.js names). */
function errorKind(err: unknown): Pick<UserCodeInputView, 'error' | 'retryAfterSeconds'> {
  if (!err) return {};
  const throttled = (err as ThrottledError)[THROTTLED];
  if (throttled !== undefined) return { error: 'throttled', retryAfterSeconds: throttled };
  const name = (err as Error).name;
  if (['NoCodeError', 'NotFoundError', 'ExpiredError', 'AlreadyUsedError'].includes(name)) return { error: 'wrong' };
  if (name === 'AbortedError') return { error: 'aborted' };
  return { error: 'failed' };
}

/** The engine's CSRF token of the user-code forms: a secret kept in its session cookie (lib/shared/xsrf.js). */
const xsrfOf = (ctx: KoaContextWithOIDC) => String((ctx.oidc.session?.state as { secret?: unknown } | undefined)?.secret ?? '');

const httpsOnly = (v: unknown) => (typeof v === 'string' && /^https:\/\//.test(v) ? v : undefined);

export function createDeviceFlowFeature(config: Config, pages: EnginePages) {
  return {
    enabled: true,
    // The engine's defaults, named: 20 consonants (no vowels: no words, no 0/O or 1/I confusion), 8 of them.
    charset: 'base-20' as const,
    mask: '****-****',
    deviceInfo: (ctx: KoaContextWithOIDC) => ({ ip: ctx.ip, ua: ctx.get('user-agent').slice(0, 200) }),

    async userCodeInputSource(ctx: KoaContextWithOIDC, _form: string, _out?: unknown, err?: unknown) {
      const kind = errorKind(err);
      if (kind.error === 'throttled') ctx.set('Retry-After', String(kind.retryAfterSeconds));
      const session = ctx.oidc.session as unknown as { exp?: unknown; touched?: boolean } | undefined;
      if (err && session && typeof session.exp !== 'number') {
        // A post that came without the engine's session (another browser, a forged cross-site form, an
        // expired session): its CSRF check failed before any lookup. The engine would now put a new CSRF
        // secret in that never-saved session and fail to persist it (a 500), so the secret is not kept and
        // the page offers a fresh start instead of a form.
        session.touched = false;
        await pages.userCodeInput(ctx, { action: undefined, xsrf: '', digits: false, error: 'failed' });
        return;
      }
      const typed = (err as { userCode?: unknown } | undefined)?.userCode;
      await pages.userCodeInput(ctx, {
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrfOf(ctx),
        userCode: typeof typed === 'string' ? typed.slice(0, 64) : undefined,
        digits: false,
        ...kind,
      });
    },

    async userCodeConfirmSource(ctx: KoaContextWithOIDC, _form: string, client: InstanceType<Provider['Client']>, deviceInfo: unknown, userCode: string) {
      const info = (deviceInfo ?? {}) as { ip?: unknown; ua?: unknown };
      const from = [info.ip, info.ua].filter((v): v is string => typeof v === 'string' && v.length > 0).join(', ');
      await pages.userCodeConfirm(ctx, {
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrfOf(ctx),
        userCode,
        client: { id: client.clientId, name: client.clientName ?? client.clientId, logoUri: httpsOnly(client.metadata().logo_uri) },
        requestedFrom: from || undefined,
      });
    },

    async successSource(ctx: KoaContextWithOIDC) {
      const client = ctx.oidc.client;
      await pages.deviceSuccess(ctx, client?.clientName ?? client?.clientId ?? '');
    },
  };
}

/**
 * The adapter's findByUserCode, throttled per client IP and per code (domain/user-code-throttle.ts). The
 * engine has checked the form's CSRF token and normalised the code before it asks. A refused lookup is an
 * error the user-code page shows as "too many attempts" (429 with Retry-After).
 */
export function createUserCodeLookupGuard(db: Db, config: Config) {
  const throttle = createUserCodeThrottle(db, {
    maxFailuresPerIp: config.deviceFlow.maxFailuresPerIp,
    codeTtlSeconds: config.deviceFlow.codeTtlSeconds,
  });
  return async function guardedLookup(userCode: string, lookup: () => Promise<Payload | undefined>): Promise<Payload | undefined> {
    // Not one of ours (and not worth a counter row): the engine shows "not valid".
    if (userCode.length === 0 || userCode.length > MAX_USER_CODE_LENGTH) return undefined;
    const ip = (Provider.ctx as KoaContextWithOIDC | undefined)?.ip ?? 'unknown';
    const gate = await throttle.begin(ip, userCode);
    if (!gate.ok) {
      const error: ThrottledError = new errors.InvalidRequest('too many attempts, try again later');
      Object.assign(error, { status: 429, statusCode: 429, [THROTTLED]: gate.retryAfterSeconds });
      throw error;
    }
    const found = await lookup();
    if (found) await throttle.found(gate);
    return found;
  };
}

/**
 * RFC 8628 §3.5: a device that polls the token endpoint again before its interval has passed is answered
 * slow_down. One counter per device code (by hash) in login_attempts: one point per interval, so the
 * limit holds across server processes. Called by the adapter when the token endpoint reads a device code
 * that exists (an unknown one writes nothing).
 */
export function createDevicePollGuard(db: Db, config: Config) {
  const intervalMs = config.deviceFlow.pollIntervalSeconds * 1000;
  return async function devicePolled(deviceCode: string): Promise<void> {
    const point = await takePoint(db, `device-poll:${bearerHash(deviceCode)}`, { limit: 1, windowMs: intervalMs, lockMs: intervalMs });
    if (!point.taken) throw new errors.SlowDown();
  };
}

/** Engine middleware: the device authorization response carries the polling interval (RFC 8628 §3.2). */
export function advertisePollInterval(provider: Provider, config: Config): void {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'device_authorization' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      (ctx.body as Record<string, unknown>).interval = config.deviceFlow.pollIntervalSeconds;
    }
  });
}
