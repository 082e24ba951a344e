// Admin API test helpers: an admin client made by the `admin.bootstrap` operation, real access tokens from
// the token endpoint (client_credentials through openid-client), and a small JSON client for /admin/v1.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { runOperation } from '../../src/services/operations.ts';
import { adminAudience } from '../../src/domain/admin-scopes.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';
import type { TestServer } from '../helpers/server.ts';
import { discover } from '../helpers/oauth.ts';

export interface AdminClient {
  client_id: string;
  client_secret: string;
}

/** A new admin client (admin:* unless `scope` says otherwise) and its credentials. */
export async function adminClient(server: TestServer, scope?: string): Promise<AdminClient> {
  if (!scope) {
    const made = await runOperation(server.operations, 'admin.bootstrap', { force: true });
    return { client_id: made.client_id, client_secret: made.client_secret };
  }
  const made = await runOperation(server.operations, 'client.create', {
    name: `admin ${scope}`,
    grantTypes: ['client_credentials'],
    scope,
    defaultResource: adminAudience(server.issuer),
  });
  return { client_id: made.client_id, client_secret: made.client_secret! };
}

/** An access token for the admin API, by client_credentials. */
export async function adminToken(server: TestServer, client: AdminClient, scope = 'admin:*'): Promise<string> {
  const config = await discover(server, { ...client, token_endpoint_auth_method: 'client_secret_basic' } as ClientMetadata);
  const tokens = await oidc.clientCredentialsGrant(config, { scope, resource: adminAudience(server.issuer) });
  return tokens.access_token;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface Api {
  request<T = any>(method: string, path: string, options?: { body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<ApiResponse<T>>;
  get<T = any>(path: string): Promise<ApiResponse<T>>;
  post<T = any>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  put<T = any>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  patch<T = any>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  delete<T = any>(path: string): Promise<ApiResponse<T>>;
}

/** JSON calls to /admin/v1 with the bearer token; fails the test on any 5xx. */
export function adminApi(server: TestServer, token: string | undefined): Api {
  async function request(method: string, path: string, options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${server.issuer}/admin/v1${path}`, { method, headers: { ...headers, ...options.headers }, body });
    const text = await res.text();
    expect(res.status, `${method} ${path} → ${res.status} ${text.slice(0, 500)}`).toBeLessThan(500);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }
  return {
    request,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, { body }),
    put: (path, body) => request('PUT', path, { body }),
    patch: (path, body) => request('PATCH', path, { body }),
    delete: (path) => request('DELETE', path),
  };
}

/** A ready admin API client with an admin:* token. */
export async function adminSession(server: TestServer): Promise<{ api: Api; client: AdminClient; token: string }> {
  const client = await adminClient(server);
  const token = await adminToken(server, client);
  return { api: adminApi(server, token), client, token };
}

/** Walks every page of a list, asserting each page's size; returns all items in order. */
export async function allPages<T = any>(api: Api, path: string, limit: number): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 1000; guard++) {
    const sep = path.includes('?') ? '&' : '?';
    const res: ApiResponse<{ items: T[]; next_cursor: string | null }> = await api.get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
    if (!cursor) return items;
    expect(res.body.items).toHaveLength(limit);
  }
  throw new Error('pagination did not end');
}
