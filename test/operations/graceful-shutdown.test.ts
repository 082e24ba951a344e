// SIGTERM behaviour (RunningServer.close is what `tessera serve` calls on SIGTERM): stop accepting, answer
// /readyz 503, let requests in flight finish (closing their connections), cut what is still open after
// SHUTDOWN_TIMEOUT; and a rolling restart of two processes loses no request that was accepted.
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { basic, createClient } from '../helpers/oauth.ts';
import type { ClientMetadata } from '../../src/domain/clients.ts';

interface Answer {
  status?: number;
  connection?: string;
  error?: string;
}

/** One POST on its own connection (no keep-alive), so "accepted" means this connection reached the server. */
function post(url: string, body: string, headers: Record<string, string>, options: { holdBodyUntil?: Promise<void> } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: String(res.headers.connection) }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    if (options.holdBodyUntil) {
      req.write(body.slice(0, 5));
      void options.holdBodyUntil.then(() => req.end(body.slice(5)));
    } else {
      req.end(body);
    }
  });
}

const tokenRequest = (server: TestServer, client: ClientMetadata, options?: { holdBodyUntil?: Promise<void> }) =>
  post(`${server.url}/token`, 'grant_type=client_credentials', basic(client), options);

describe('graceful shutdown', () => {
  it('finishes a request in flight, refuses new connections and reports not ready while draining', async () => {
    const server = await startTestServer();
    const client = await createClient(server, { name: 'Drain', redirectUris: [], grantTypes: ['client_credentials'] });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const inFlight = tokenRequest(server, client, { holdBodyUntil: held });
    await new Promise((r) => setTimeout(r, 200)); // the request's headers have reached the server

    const closing = server.stop();
    await new Promise((r) => setTimeout(r, 100));
    const refused = await tokenRequest(server, client);
    expect(refused.error).toBe('ECONNREFUSED');

    release();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.connection).toBe('close');
    await closing;
  });

  it('cuts connections still open after SHUTDOWN_TIMEOUT, so shutdown is bounded', async () => {
    const server = await startTestServer({ env: { SHUTDOWN_TIMEOUT: '1' } });
    const port = Number(new URL(server.url).port);
    // A client that sends half a request and then nothing.
    const socket = connect(port, '127.0.0.1');
    socket.resume(); // read whatever the server sends, so its close is seen
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write('POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ngrant');
    await new Promise((r) => setTimeout(r, 100));
    const socketClosed = new Promise<void>((r) => socket.once('close', () => r()));
    await server.stop();
    await socketClosed; // the server cut it (otherwise this would wait for the test's timeout)
    expect(socket.destroyed).toBe(true);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('rolling restart of two processes (PostgreSQL)', () => {
  it('loses no accepted request while each process in turn drains, shuts down and comes back', async () => {
    // As on Kubernetes: a process told to stop answers /readyz 503 for SHUTDOWN_DELAY while still serving,
    // the balancer stops routing to it, then it closes. Closing a listener with connections still arriving
    // would reset those in the kernel's accept queue, which no server can answer.
    const env = { SHUTDOWN_DELAY: '1' };
    let a = await startTestServer({ env });
    let b = await a.sibling();
    const client = await createClient(a, { name: 'Rolling', redirectUris: [], grantTypes: ['client_credentials'] });
    const answers: Answer[] = [];
    let running = true;
    // The balancer: polls each process's /readyz and routes to ready ones; a refused connection is retried
    // on the other process.
    const ready = new Map<TestServer, boolean>();
    const probe = async () => {
      while (running) {
        for (const s of [a, b]) ready.set(s, await fetch(`${s.url}/readyz`).then((r) => r.status === 200, () => false));
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const prober = probe();
    const worker = async (offset: number) => {
      for (let i = offset; running; i++) {
        const candidates = (i % 2 ? [a, b] : [b, a]).filter((s) => ready.get(s) !== false);
        const order = candidates.length ? candidates : [a, b];
        let answer = await tokenRequest(order[0]!, client);
        if (answer.error === 'ECONNREFUSED' && order[1]) answer = await tokenRequest(order[1], client);
        answers.push(answer);
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await new Promise((r) => setTimeout(r, 500));
    await a.stop({ keepDatabase: true });
    a = await b.sibling();
    await new Promise((r) => setTimeout(r, 500));
    const oldB = b;
    await oldB.stop({ keepDatabase: true });
    b = await a.sibling();
    await new Promise((r) => setTimeout(r, 500));
    running = false;
    await Promise.all([...workers, prober]);
    try {
      expect(answers.length).toBeGreaterThan(20);
      const failed = answers.filter((x) => x.status !== 200);
      expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    } finally {
      await b.stop({ keepDatabase: true });
      await a.stop();
    }
  });
});
