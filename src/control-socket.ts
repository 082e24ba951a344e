// Embedded PostgreSQL (PGlite) allows one process per data directory. While `tessera serve` runs on the
// embedded default, CLI commands reach its database through this Unix socket in the data directory
// (mode 0600: only the same OS user), instead of opening the files a second time.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { Conflict, NotFound, PayloadTooLarge, ValidationError } from './errors.ts';
import { toProblem } from './problem.ts';
import type { Logger } from './logger.ts';
import type { ServiceContext, OperationName } from './services/operations.ts';
import { parseOperationInput } from './services/operation-inputs.ts';

// Taken from the built-in module itself rather than imported: importing `node:http` as an ES module reads
// every export, among them the lazy WebSocket and fetch ones, which load undici — a tenth of the time of a CLI
// command that only calls this socket.
const { createServer, request } = process.getBuiltinModule('node:http');

const MAX_BODY = 256 * 1024;

export function controlSocketPath(dataDir: string): string {
  return join(resolve(dataDir), 'control.sock');
}

/** A failure carries toProblem's status, code (`code`) and description (`error`). */
type Reply = { ok: true; result: unknown } | { ok: false; status: number; code: string; error: string };

async function readJson(req: NodeJS.ReadableStream): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new PayloadTooLarge('request too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8') || '{}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ValidationError('the operation input is not JSON', 400);
  }
  // An operation takes one JSON object (or nothing); what each field may hold is the service's own check,
  // the same one the admin API and a direct CLI run go through.
  const input = OPERATION_INPUT.safeParse(parsed);
  if (!input.success) throw new ValidationError('the operation input must be a JSON object', 400);
  return input.data;
}

const OPERATION_INPUT = z.union([z.record(z.string(), z.json()), z.null()]);

/** Must run before the embedded database is opened: two processes on one PGlite directory corrupt it. */
export async function assertDataDirFree(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (await isListening(path)) {
    throw new Conflict(`another Tessera process is already serving this data directory (${path}); stop it first`);
  }
  unlinkSync(path); // stale socket from a process that did not shut down cleanly
}

export async function startControlSocket(path: string, context: ServiceContext, logger: Logger): Promise<Server> {
  // The operations table only where the socket is served: a CLI command, which imports this module to
  // call the socket, does not load every service for it.
  const { isOperationName, runOperation } = await import('./services/operations.ts');
  await assertDataDirFree(path);
  const server = createServer(async (req, res) => {
    let reply: Reply;
    const name = decodeURIComponent((req.url ?? '').replace(/^\/operations\//, ''));
    try {
      if (req.method !== 'POST' || !isOperationName(name)) throw new NotFound(`unknown operation ${name}`);
      const input = await readJson(req);
      reply = { ok: true, result: await runOperation(context, name, parseOperationInput(name, input)) };
    } catch (error) {
      const problem = toProblem(error);
      if (!problem.expose) logger.error({ err: error, operation: name }, 'control operation failed');
      else if (problem.status === 503) logger.warn({ operation: name, err: { message: (error as Error).message } }, 'database unavailable');
      reply = { ok: false, status: problem.status, code: problem.error, error: problem.description };
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(reply));
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolveListen());
  });
  chmodSync(path, 0o600);
  return server;
}

function isListening(path: string): Promise<boolean> {
  return new Promise((resolveCheck) => {
    const req = request({ socketPath: path, method: 'GET', path: '/' }, (res) => {
      res.resume();
      resolveCheck(true);
    });
    req.on('error', () => resolveCheck(false));
    req.end();
  });
}

/** Runs an operation in the serving process; `undefined` when no server listens on the socket. */
export function callControlSocket(path: string, name: OperationName, input: unknown): Promise<Reply | undefined> {
  if (!existsSync(path)) return Promise.resolve(undefined);
  return new Promise((resolveCall, reject) => {
    const body = JSON.stringify(input ?? {});
    const req = request(
      { socketPath: path, method: 'POST', path: `/operations/${encodeURIComponent(name)}`, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      async (res) => {
        try {
          resolveCall((await readJson(res)) as Reply);
        } catch (error) {
          reject(error);
        }
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolveCall(undefined);
      else reject(error);
    });
    req.end(body);
  });
}
