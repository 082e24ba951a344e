// The HTTP ceiling: a raw Koa app answering a small JSON document, nothing else in the way.
import { createServer } from 'node:http';
import Koa from 'koa';
import { announceReady, closeOnStop, reportStartFailure } from './ipc.ts';

try {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = { ok: true, service: 'ceiling', at: Date.now() };
  });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(process.env.PORT), '127.0.0.1', () => resolve());
  });
  closeOnStop(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  announceReady(`http://127.0.0.1:${process.env.PORT}`, {});
} catch (error) {
  reportStartFailure(error);
}
