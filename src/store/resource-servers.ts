import { noticeChange } from './change-notices.ts';
import type { Db } from './db.ts';
import { keysetPage, type Page, type PageRequest } from './pagination.ts';

export interface ScopeDefinition {
  name: string;
  description?: string | undefined;
}

export interface ResourceServerRow {
  identifier: string;
  name: string;
  scopes: ScopeDefinition[];
  accessTokenFormat: 'jwt' | 'opaque';
  accessTokenTtl: number;
  signingAlg: string;
  createdAt: Date;
}

interface Raw {
  identifier: string;
  name: string;
  scopes: ScopeDefinition[];
  access_token_format: 'jwt' | 'opaque';
  access_token_ttl: number;
  signing_alg: string;
  created_at: Date;
}

const toRow = (r: Raw): ResourceServerRow => ({
  identifier: r.identifier,
  name: r.name,
  scopes: r.scopes,
  accessTokenFormat: r.access_token_format,
  accessTokenTtl: r.access_token_ttl,
  signingAlg: r.signing_alg,
  createdAt: r.created_at,
});

const toRaw = (r: Omit<ResourceServerRow, 'createdAt'>) => ({
  identifier: r.identifier,
  name: r.name,
  scopes: JSON.stringify(r.scopes),
  access_token_format: r.accessTokenFormat,
  access_token_ttl: r.accessTokenTtl,
  signing_alg: r.signingAlg,
});

export async function findResourceServer(db: Db, identifier: string): Promise<ResourceServerRow | undefined> {
  const row = await db<Raw>('resource_servers').where('identifier', identifier).first();
  return row ? toRow(row) : undefined;
}

export async function listResourceServers(db: Db): Promise<ResourceServerRow[]> {
  return (await db<Raw>('resource_servers').orderBy('created_at')).map(toRow);
}

/** Oldest first, by (created_at, identifier). */
export async function listResourceServersPage(db: Db, page: PageRequest): Promise<Page<ResourceServerRow>> {
  const query = db('resource_servers').select('resource_servers.*');
  const keys = [{ column: 'resource_servers.created_at', kind: 'timestamp' }, { column: 'resource_servers.identifier', kind: 'text' }] as const;
  return keysetPage(db, query, { keys, direction: 'asc', page }, (r) => toRow(r as unknown as Raw));
}

export async function insertResourceServer(db: Db, r: Omit<ResourceServerRow, 'createdAt'>): Promise<boolean> {
  const inserted = await db('resource_servers').insert(toRaw(r)).onConflict('identifier').ignore().returning('identifier');
  if (inserted.length === 1) await noticeChange(db, { kind: 'resource', id: r.identifier });
  return inserted.length === 1;
}

export async function updateResourceServer(db: Db, r: Omit<ResourceServerRow, 'createdAt'>): Promise<void> {
  await db('resource_servers').where('identifier', r.identifier).update({ ...toRaw(r), updated_at: db.fn.now() });
  await noticeChange(db, { kind: 'resource', id: r.identifier });
}

export async function deleteResourceServer(db: Db, identifier: string): Promise<boolean> {
  // `returning`: knex-pglite answers a bare DELETE with a result object, not a row count.
  const deleted = (await db('resource_servers').where('identifier', identifier).delete().returning('identifier')).length > 0;
  if (deleted) await noticeChange(db, { kind: 'resource', id: identifier });
  return deleted;
}

export async function longestAccessTokenTtl(db: Db): Promise<number> {
  const row = await db('resource_servers').max('access_token_ttl as max').first();
  return Number(row?.max ?? 0);
}

/**
 * Until when a revocation must be remembered (and stay in the feed): past the expiry of every access token
 * it can cover — the longest lifetime in use, the global one or any resource server's.
 */
export async function revocationCoverUntil(db: Db, defaultTtlSeconds: number): Promise<Date> {
  const longest = Math.max(defaultTtlSeconds, await longestAccessTokenTtl(db));
  return new Date(Date.now() + longest * 1000);
}
