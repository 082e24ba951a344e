// `tessera doctor`: a readable health report for operators — configuration, database reachability and
// migration state, keys (unsealable with this TESSERA_SECRET, one current per group, rotation on time),
// clock agreement with the database, whether the issuer URL answers as this issuer, and (embedded mode)
// whether the data directory is private to its owner.
// Each check is ok / warn / fail; any fail makes the command exit 1.
import { existsSync } from 'node:fs';
import type { Config } from '../config.ts';
import type { Db } from '../store/db.ts';
import { pendingMigrations, ping } from '../store/db.ts';
import { listKeys } from '../store/keys.ts';
import type { SecretBox } from '../domain/secret-box.ts';
import { KEY_GROUPS } from '../domain/keys.ts';
import { findOpenEntries } from '../store/data-dir.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

export function configurationChecks(config: Config): Check[] {
  const checks: Check[] = [];
  const issuer = new URL(config.issuer);
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  checks.push(
    issuer.protocol === 'https:' || local
      ? { name: 'issuer', status: 'ok', detail: config.issuer }
      : { name: 'issuer', status: 'fail', detail: `${config.issuer} is not https (RFC 9700 §2.6: the issuer must use TLS outside development)` },
  );
  if (!config.databaseUrl) checks.push({ name: 'database mode', status: 'warn', detail: 'embedded PGlite: fine for development, use DATABASE_URL (PostgreSQL) in production' });
  if (!config.secret) checks.push({ name: 'instance secret', status: 'warn', detail: `TESSERA_SECRET is not set: a development secret under ${config.dataDir} is used` });
  if (config.registrationPolicy === 'open') checks.push({ name: 'registration policy', status: 'warn', detail: 'REGISTRATION_POLICY=open lets anyone register clients' });
  if (config.backchannelLogoutAllowPrivate) checks.push({ name: 'back-channel logout', status: 'warn', detail: 'BACKCHANNEL_LOGOUT_ALLOW_PRIVATE=true: logout tokens may be delivered to loopback and private addresses (fine when your apps live there)' });
  if (config.registrationFetchAllowPrivate) checks.push({ name: 'client metadata fetches', status: 'warn', detail: 'REGISTRATION_FETCH_ALLOW_PRIVATE=true: jwks_uri and sector_identifier_uri of registered clients may point into private networks (SSRF guard off)' });
  if (issuer.protocol === 'https:' && !config.trustProxy && !local) {
    checks.push({ name: 'proxy', status: 'warn', detail: 'the issuer is https but TRUST_PROXY is false: behind a TLS-terminating proxy, cookies will not be marked Secure' });
  }
  return checks;
}

/**
 * The embedded data directory must be owner-only (store/data-dir.ts). Looked at by the CLI process before it
 * opens anything, because opening the database makes the files private again and would hide the finding.
 */
export function dataDirCheck(config: Config): Check | undefined {
  if (config.databaseUrl || config.dataDir === ':memory:') return undefined;
  if (!existsSync(config.dataDir)) return { name: 'data directory', status: 'ok', detail: `${config.dataDir} does not exist yet (it is created owner-only)` };
  const open = findOpenEntries(config.dataDir);
  if (open.length === 0) return { name: 'data directory', status: 'ok', detail: `${config.dataDir}: only its owner can read it` };
  const shown = open.slice(0, 3).map((e) => `${e.path} (${e.mode.toString(8).padStart(4, '0')})`).join(', ');
  return {
    name: 'data directory',
    status: 'fail',
    detail: `${open.length} entr${open.length === 1 ? 'y' : 'ies'} readable or writable by other users: ${shown}${open.length > 3 ? ', …' : ''}. It holds password hashes and sealed keys: run \`chmod -R go= ${config.dataDir}\` (Tessera also does this whenever it opens the directory) and find out what opened it`,
  };
}

export async function databaseChecks(config: Config, db: Db, box: SecretBox): Promise<Check[]> {
  const checks: Check[] = [];
  const started = performance.now();
  try {
    await ping(db, 5_000);
  } catch (error) {
    return [{ name: 'database', status: 'fail', detail: `unreachable: ${(error as Error).message}` }];
  }
  const version = ((await db.raw('show server_version')) as { rows: Array<{ server_version: string }> }).rows[0]?.server_version;
  checks.push({ name: 'database', status: 'ok', detail: `${config.databaseUrl ? 'PostgreSQL' : 'PGlite'} ${version ?? ''}, answered in ${Math.round(performance.now() - started)} ms` });

  const pending = await pendingMigrations(db);
  checks.push(
    pending.length === 0
      ? { name: 'migrations', status: 'ok', detail: 'schema is current' }
      : { name: 'migrations', status: 'fail', detail: `pending: ${pending.join(', ')} (run \`tessera migrate\`)` },
  );
  if (pending.length > 0) return checks;

  const dbNow = ((await db.raw('select now() as now')) as { rows: Array<{ now: Date }> }).rows[0]!.now;
  const skew = Math.abs(Date.now() - new Date(dbNow).getTime()) / 1000;
  checks.push({
    name: 'clock',
    status: skew > config.clockToleranceSeconds ? 'fail' : skew > 2 ? 'warn' : 'ok',
    detail: `this machine and the database differ by ${skew.toFixed(1)} s (tolerance ${config.clockToleranceSeconds} s)`,
  });

  checks.push(...(await keyChecks(config, db, box)));
  return checks;
}

async function keyChecks(config: Config, db: Db, box: SecretBox): Promise<Check[]> {
  const keys = await listKeys(db);
  if (keys.length === 0) return [{ name: 'keys', status: 'warn', detail: 'no keys yet: the first `tessera serve` generates them' }];
  const checks: Check[] = [];
  const unreadable = keys.filter((k) => {
    try {
      box.open(k.privateSealed, `key:${k.kid}`);
      return false;
    } catch {
      return true;
    }
  });
  if (unreadable.length) checks.push({ name: 'keys sealed', status: 'fail', detail: `${unreadable.length} key(s) do not open with this TESSERA_SECRET: is it the one the keys were created with?` });
  const overdueAfter = (config.keys.rotationIntervalSeconds + 2 * config.keys.pollSeconds) * 1000;
  for (const group of KEY_GROUPS) {
    const name = group.purpose === 'cookie' ? 'cookie keys' : `${group.alg} keys`;
    const own = keys.filter((k) => k.purpose === group.purpose && (group.purpose === 'cookie' || k.alg === group.alg));
    const current = own.filter((k) => k.state === 'current');
    if (current.length !== 1) {
      checks.push({ name, status: 'fail', detail: `${current.length} current keys (expected 1)` });
      continue;
    }
    const age = Date.now() - (current[0]!.activatedAt ?? current[0]!.createdAt).getTime();
    const days = (age / 86_400_000).toFixed(1);
    const next = own.find((k) => k.state === 'next');
    const summary = `current ${current[0]!.kid} for ${days} days${next ? `, next ${next.kid} signs from ${next.activatesAt?.toISOString()}` : ''}, ${own.filter((k) => k.state === 'retired').length} retired`;
    checks.push(
      age > overdueAfter
        ? { name, status: 'warn', detail: `${summary}: rotation is overdue (is a server process running?)` }
        : { name, status: 'ok', detail: summary },
    );
  }
  return checks;
}

export async function issuerCheck(config: Config): Promise<Check> {
  const url = `${config.issuer}/.well-known/openid-configuration`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000), redirect: 'manual' });
    if (res.status !== 200) return { name: 'issuer URL', status: 'fail', detail: `${url} answered ${res.status}` };
    const body = (await res.json()) as { issuer?: string };
    return body.issuer === config.issuer
      ? { name: 'issuer URL', status: 'ok', detail: `${url} answers as this issuer` }
      : { name: 'issuer URL', status: 'fail', detail: `${url} answers as issuer "${body.issuer}", not "${config.issuer}"` };
  } catch (error) {
    return { name: 'issuer URL', status: 'warn', detail: `${url} did not answer (${(error as Error).message}): is the server running and reachable from here?` };
  }
}

const SYMBOL: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

export function formatReport(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.map((c) => `${SYMBOL[c.status]}  ${c.name.padEnd(width)}  ${c.detail}`);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  lines.push('', failed ? `${failed} problem(s) to fix, ${warned} warning(s)` : `all checks passed${warned ? `, ${warned} warning(s)` : ''}`);
  return lines.join('\n');
}

/** The checks that need the database, run wherever the database is open (here, or in the serving process). */
export async function localChecks(config: Config, db: Db, box: SecretBox): Promise<Check[]> {
  return [...configurationChecks(config), ...(await databaseChecks(config, db, box))];
}
