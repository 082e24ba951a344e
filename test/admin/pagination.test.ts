// Keyset pagination: more items than a page holds, walked to the end with no duplicate and no gap, stable
// while items are added between pages; bad limits and cursors are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { runOperation } from '../../src/services/operations.ts';
import { adminSession, allPages, type Api } from './helpers.ts';

let server: TestServer;
let api: Api;
const USERS = 57;

beforeAll(async () => {
  server = await startTestServer();
  api = (await adminSession(server)).api;
  for (let i = 0; i < USERS; i++) await runOperation(server.operations, 'user.create', { username: `user${String(i).padStart(3, '0')}`, password: 'correct horse battery' });
}, 120_000);
afterAll(() => server?.stop());

describe('walking every page', () => {
  it('returns every user once, oldest first, with the default page size of 50', async () => {
    const first = await api.get('/users');
    expect(first.body.items).toHaveLength(50);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api.get(`/users?cursor=${encodeURIComponent(first.body.next_cursor)}`);
    expect(second.body.items).toHaveLength(USERS - 50);
    expect(second.body.next_cursor).toBeNull();
    const names = [...first.body.items, ...second.body.items].map((u: { username: string }) => u.username);
    expect(names).toEqual(Array.from({ length: USERS }, (_, i) => `user${String(i).padStart(3, '0')}`));
  });

  it.each([1, 7, 56, 57, 200])('walks all users with limit=%i and finds no duplicate or gap', async (limit) => {
    const users = await allPages(api, '/users', limit);
    expect(users).toHaveLength(USERS);
    expect(new Set(users.map((u) => u.id)).size).toBe(USERS);
  });

  it('pages clients the same way', async () => {
    for (let i = 0; i < 12; i++) await api.post('/clients', { client_name: `Paged ${i}`, grant_types: ['client_credentials'] });
    const all = await allPages(api, '/clients', 200);
    const paged = await allPages(api, '/clients', 5);
    expect(paged.map((c) => c.client_id)).toEqual(all.map((c) => c.client_id));
    expect(paged.filter((c) => c.client_name.startsWith('Paged')).map((c) => c.client_name)).toEqual(Array.from({ length: 12 }, (_, i) => `Paged ${i}`));
  });

  it('neither repeats nor skips an item when items are added between pages', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let added = 0;
    do {
      const page: { items: Array<{ username: string }>; next_cursor: string | null } = (await api.get(`/users?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).body;
      seen.push(...page.items.map((u) => u.username));
      cursor = page.next_cursor;
      if (added < 3) await runOperation(server.operations, 'user.create', { username: `late${added++}`, password: 'correct horse battery' });
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    // Everything that existed at the start, then the late arrivals (newer, so at the end).
    expect(seen.slice(0, USERS)).toEqual(Array.from({ length: USERS }, (_, i) => `user${String(i).padStart(3, '0')}`));
    expect(seen.slice(USERS)).toEqual(['late0', 'late1', 'late2']);
  });
});

describe('bad paging input', () => {
  it.each(['0', '201', '-1', '2.5', 'ten'])('refuses limit=%s with 400 and details naming limit', async (limit) => {
    const res = await api.get(`/users?limit=${limit}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', details: [{ path: ['limit'] }] });
  });

  it.each([
    ['not base64 JSON', 'garbage!'],
    ['JSON of the wrong shape', Buffer.from('{"a":1}').toString('base64url')],
    ['an impossible date', Buffer.from('["2026-02-30T00:00:00.000000Z","x"]').toString('base64url')],
    ['a cursor of another list', Buffer.from('["123"]').toString('base64url')],
  ])('refuses a cursor that is %s with 400', async (_what, cursor) => {
    const res = await api.get(`/users?cursor=${encodeURIComponent(cursor)}`);
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/cursor/);
  });

  it('refuses a repeated or unknown query parameter with 400', async () => {
    expect((await api.get('/users?limit=5&limit=6')).status).toBe(400);
    const unknown = await api.get('/users?lmit=5');
    expect(unknown.status).toBe(400);
    expect(unknown.body.details).toEqual([{ path: ['lmit'], message: 'unknown field' }]);
  });
});
