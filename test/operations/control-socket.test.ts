// The control socket (embedded mode: the CLI reaching the serving process) answers whatever arrives with a
// status and a readable error, as the admin API does: never a crash, never a 500 for bad input.
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createLogger } from '../../src/logger.ts';
import { callControlSocket, startControlSocket } from '../../src/control-socket.ts';

let server: TestServer;
let socket: Server;
let dir: string;
let path: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'tessera-socket-'));
  path = join(dir, 'control.sock');
  socket = await startControlSocket(path, server.operations, createLogger('silent'));
});
afterAll(async () => {
  await new Promise((r) => socket?.close(r));
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function post(operation: string, body: string): Promise<{ ok: boolean; status?: number; code?: string; error?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, method: 'POST', path: `/operations/${operation}` }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('control socket input', () => {
  it('refuses input that is not a JSON object with 400', async () => {
    for (const body of ['{not json', '[1,2]', '"user"', '42']) {
      expect(await post('user.show', body)).toMatchObject({ ok: false, status: 400, code: 'invalid_request' });
    }
  });

  it('answers an unknown operation with 404 and fields of the wrong kind with the service\'s own 4xx', async () => {
    expect(await post('user.become-admin', '{}')).toMatchObject({ ok: false, status: 404 });
    const reply = await post('user.create', JSON.stringify({ username: { $ne: null }, password: ['x'] }));
    expect(reply.ok).toBe(false);
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
  });

  it('runs a well-formed operation as the CLI sends it', async () => {
    const reply = await callControlSocket(path, 'user.create', { username: 'socket-user', password: 'a long enough password' });
    expect(reply).toMatchObject({ ok: true, result: { username: 'socket-user' } });
  });
});

describe('control socket input, per operation', () => {
  it('refuses fields of the wrong kind, and fields the operation does not take, before the service runs', async () => {
    expect(await post('user.create', JSON.stringify({ username: { $ne: null }, password: 'a long enough password' }))).toMatchObject({ ok: false, status: 400, code: 'invalid_request' });
    expect(await post('user.add-role', JSON.stringify({ user: 'socket-user', roles: 'admin' }))).toMatchObject({ ok: false, status: 400 });
    const extra = await post('client.disable', JSON.stringify({ clientId: 'x', disabled: false, tessera_first_party: true }));
    expect(extra).toMatchObject({ ok: false, status: 400 });
    expect(extra.error).toMatch(/disabled|tessera_first_party/);
    // An operation without input takes nothing or {}.
    expect(await post('keys.list', '{}')).toMatchObject({ ok: true });
    expect(await post('keys.list', JSON.stringify({ all: true }))).toMatchObject({ ok: false, status: 400 });
  });
});
