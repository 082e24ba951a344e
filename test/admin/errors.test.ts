// One error shape for the whole admin API — JSON {error, error_description, details}, whatever the Accept
// header — with the status that fits, never a 500 for bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { adminSession, type Api } from './helpers.ts';

let server: TestServer;
let api: Api;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ api, token } = await adminSession(server));
});
afterAll(() => server?.stop());

function expectShape(body: unknown) {
  expect(body).toEqual({ error: expect.any(String), error_description: expect.any(String), details: expect.any(Array) });
}

describe('bad input', () => {
  it('answers malformed JSON with 400', async () => {
    const res = await api.request('POST', '/users', { rawBody: '{"username": "x",', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expectShape(res.body);
    expect(res.body.error_description).toMatch(/not valid JSON/);
  });

  it('answers a body that is not JSON with 415', async () => {
    const res = await api.request('POST', '/users', { rawBody: 'username=x&password=y', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(415);
    expectShape(res.body);
  });

  it('answers a body that breaks the schema with 422 and every problem in details', async () => {
    const res = await api.post('/users', { username: 42, email: ['x'], extra: true });
    expect(res.status).toBe(422);
    expectShape(res.body);
    const paths = res.body.details.map((d: { path: string[] }) => d.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['username', 'password', 'email', 'extra']));
    for (const d of res.body.details) expect(d.message).toEqual(expect.any(String));
  });

  it('answers a missing body with 422', async () => {
    const res = await api.request('POST', '/users');
    expect(res.status).toBe(422);
    expectShape(res.body);
  });

  it('answers a body over the limit with 413, whether its length is declared or not', async () => {
    const big = JSON.stringify({ username: 'big', password: 'x'.repeat(70 * 1024) });
    const declared = await api.request('POST', '/users', { rawBody: big, headers: { 'content-type': 'application/json' } });
    expect(declared.status).toBe(413);
    expectShape(declared.body);
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    // Chunked: no Content-Length, so only the admin API's own reader can count.
    const res = await fetch(`${server.issuer}/admin/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expectShape(await res.json());
  });
});

describe('unknown things', () => {
  it('answers an unknown id with 404 for every kind of item', async () => {
    for (const path of ['/clients/nope', '/users/nope', `/resource-servers/${encodeURIComponent('https://nope.example.test/')}`]) {
      const res = await api.get(path);
      expect(res.status, path).toBe(404);
      expectShape(res.body);
    }
    for (const path of ['/grants/nope', '/sessions/nope', '/initial-access-tokens/nope']) {
      const res = await api.delete(path);
      expect(res.status, path).toBe(404);
      expectShape(res.body);
    }
  });

  it('answers an unknown route with 404 and a known route with a wrong method with 405 and Allow', async () => {
    const missing = await api.get('/nothing-here');
    expect(missing.status).toBe(404);
    expectShape(missing.body);
    const wrong = await api.request('PUT', '/clients');
    expect(wrong.status).toBe(405);
    expectShape(wrong.body);
    expect(wrong.headers.get('allow')).toMatch(/GET/);
    expect(wrong.headers.get('allow')).toMatch(/POST/);
  });

  it('answers in JSON even to a client that prefers HTML', async () => {
    const res = await api.request('GET', '/clients/nope', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(404);
    expectShape(res.body);
  });
});

describe('conflicts', () => {
  it('answers a taken username and an existing resource server with 409', async () => {
    await api.post('/users', { username: 'dup', password: 'correct horse battery' });
    const user = await api.post('/users', { username: 'DUP', password: 'correct horse battery' });
    expect(user.status).toBe(409);
    expectShape(user.body);
    await api.post('/resource-servers', { identifier: 'https://dup.example.test/' });
    const rs = await api.post('/resource-servers', { identifier: 'https://dup.example.test/' });
    expect(rs.status).toBe(409);
    expectShape(rs.body);
  });
});
