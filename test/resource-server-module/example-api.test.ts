// examples/api/server.ts as a user runs it: a child process configured by environment variables, in front
// of the real Tessera, in each validation mode.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { registerApi, serviceClient, serviceToken, type RegisteredApi } from './helpers.ts';

const SERVER = fileURLToPath(new URL('../../examples/api/server.ts', import.meta.url));
const INVOICES = 'https://invoices.example.test/api';

let server: TestServer;
let api: RegisteredApi;
let reader: oidc.Configuration;
let writer: oidc.Configuration;
const children: ChildProcess[] = [];

beforeAll(async () => {
  server = await startTestServer();
  api = await registerApi(server, INVOICES);
  reader = (await serviceClient(server, 'Reader', 'invoices:read')).config;
  writer = (await serviceClient(server, 'Writer only', 'invoices:write')).config;
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await server?.stop();
});

function run(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [SERVER], { env: { PATH: process.env.PATH ?? '', PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function startExample(mode: string): Promise<{ url: string; child: ChildProcess; exited: Promise<number | null> }> {
  const { child, output, exited } = run({ TESSERA_ISSUER: server.issuer, API_AUDIENCE: INVOICES, API_CLIENT_ID: api.clientId, API_CLIENT_SECRET: api.clientSecret, VALIDATION_MODE: mode });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const match = /listening on (http:\/\/\S+)/.exec(output());
    if (match) return { url: match[1]!, child, exited };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`example API did not start: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(['local', 'local+feed', 'introspection'])('examples/api in %s mode', (mode) => {
  it('serves /invoices to a token with invoices:read only, and exits cleanly on SIGTERM', async () => {
    const { url, child, exited } = await startExample(mode);
    expect((await fetch(`${url}/invoices`)).status).toBe(401);
    const ok = await fetch(`${url}/invoices`, { headers: { authorization: `Bearer ${await serviceToken(reader, INVOICES)}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ invoices: expect.arrayContaining([expect.objectContaining({ id: 'INV-1001' })]) });
    const forbidden = await fetch(`${url}/invoices`, { headers: { authorization: `Bearer ${await serviceToken(writer, INVOICES, 'invoices:write')}` } });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('www-authenticate')).toContain('error="insufficient_scope"');

    if (mode !== 'local') {
      const token = await serviceToken(reader, INVOICES);
      await oidc.tokenRevocation(reader, token);
      const deadline = Date.now() + 2000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        status = (await fetch(`${url}/invoices`, { headers: { authorization: `Bearer ${token}` } })).status;
        if (status === 200) await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe(401);
    }

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

it('examples/api refuses to start without its configuration', async () => {
  const { output, exited } = run({});
  expect(await exited).toBe(2);
  expect(output()).toContain('TESSERA_ISSUER is required');
});
