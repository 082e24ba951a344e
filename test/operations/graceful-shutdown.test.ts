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

interface HoldOptions {
  /** Send the body's first bytes only, and the rest once this resolves. */
  holdBodyUntil?: Promise<void>;
  /** Called when the server has the request in hand (its `100 Continue`), before any of the body is sent. */
  onInProgress?: () => void;
}

/**
 * One POST on its own connection (no keep-alive), so "accepted" means this connection reached the server. A
 * held request asks `Expect: 100-continue`: the server's `100 Continue` says its headers have been read and
 * the request handed to the app, the signal that it is in flight.
 */
function post(url: string, body: string, headers: Record<string, string>, options: HoldOptions = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const held = options.holdBodyUntil;
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...(held ? { expect: '100-continue' } : {}), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: String(res.headers.connection) }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    if (held) {
      req.once('continue', () => {
        req.write(body.slice(0, 5));
        options.onInProgress?.();
        void held.then(() => req.end(body.slice(5)));
      });
      req.flushHeaders();
    } else {
      req.end(body);
    }
  });
}

const tokenRequest = (server: TestServer, client: ClientMetadata, options?: HoldOptions) => post(`${server.url}/token`, 'grant_type=client_credentials', basic(client), options);

/** Resolves once a new connection to `url` is refused (the listener is closed); connections still accepted are dropped at once. */
async function untilRefused(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  for (let attempt = 1; ; attempt++) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(Number(port), hostname);
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return;
    if (attempt === 1000) throw new Error(`${url} still accepts connections`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('graceful shutdown', () => {
  it('finishes a request in flight, refuses new connections and reports not ready while draining', async () => {
    const server = await startTestServer();
    const client = await createClient(server, { name: 'Drain', redirectUris: [], grantTypes: ['client_credentials'] });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inProgress!: () => void;
    const reachedServer = new Promise<void>((r) => (inProgress = r));
    let answered = false;
    const inFlight = tokenRequest(server, client, { holdBodyUntil: held, onInProgress: inProgress }).finally(() => (answered = true));
    await reachedServer;

    const closing = server.stop();
    await untilRefused(server.url);
    const refused = await tokenRequest(server, client);
    expect(refused.error).toBe('ECONNREFUSED');
    // The listener is closed, and the request in flight is still waiting for the rest of its body.
    expect(answered).toBe(false);

    release();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.connection).toBe('close');
    await closing;
  });

  it('cuts connections still open after SHUTDOWN_TIMEOUT, so shutdown is bounded', async () => {
    // The shortest SHUTDOWN_TIMEOUT: this test waits that one second, as shutdown does.
    const server = await startTestServer({ env: { SHUTDOWN_TIMEOUT: '1' } });
    const port = Number(new URL(server.url).port);
    // A client that sends half a request and then nothing. Its headers ask `Expect: 100-continue`, so the
    // server's `100 Continue` tells when the request is in its hands.
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const inProgress = new Promise<void>((resolve) => {
      let received = '';
      socket.on('data', (chunk) => {
        received += String(chunk);
        if (received.includes('100 Continue')) resolve();
      });
    });
    socket.write('POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n');
    await inProgress;
    socket.write('grant');
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
    // Whoever waits for the traffic or the balancer to reach some state is told of every change.
    const waiting: (() => void)[] = [];
    const changed = () => {
      for (const wake of waiting.splice(0)) wake();
    };
    const until = async (condition: () => boolean) => {
      while (!condition()) await new Promise<void>((resolve) => waiting.push(resolve));
    };
    // The balancer: polls each process's /readyz (every 100 ms, as a balancer's health check would, well
    // within SHUTDOWN_DELAY) and routes to ready ones; a refused connection is retried on the other process.
    const ready = new Map<TestServer, boolean>();
    const probe = async () => {
      while (running) {
        for (const s of [a, b]) {
          ready.set(s, await fetch(`${s.url}/readyz`).then((r) => r.status === 200, () => false));
          changed();
        }
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
        changed();
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    // Before each step, as a rolling update waits for the new process to be ready: the balancer sees both
    // processes ready, and traffic has kept flowing (ten more answers).
    const steady = async () => {
      const from = answers.length;
      await until(() => ready.get(a) === true && ready.get(b) === true && answers.length >= from + 10);
    };
    await steady();
    await a.stop({ keepDatabase: true });
    a = await b.sibling();
    await steady();
    const oldB = b;
    await oldB.stop({ keepDatabase: true });
    b = await a.sibling();
    await steady();
    running = false;
    await Promise.all([...workers, prober]);
    try {
      expect(answers.length).toBeGreaterThan(20);
      const failed = answers.filter((x) => x.status !== 200);
      expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    } finally {
      // Both drain at once (SHUTDOWN_DELAY each); the database goes with the last.
      await Promise.all([b.stop({ keepDatabase: true }), a.close()]);
      await a.stop();
    }
  });
});
