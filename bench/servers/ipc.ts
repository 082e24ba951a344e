// Child side of the parent ⇄ server protocol (see ../lib/child.ts): announce readiness with the fixtures the
// parent needs, close cleanly on {type: 'stop'} or when the parent goes away.
export function announceReady(url: string, fixtures: Record<string, unknown>): void {
  process.send!({ type: 'ready', url, pid: process.pid, fixtures });
}

export function closeOnStop(close: () => Promise<void>): void {
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    close()
      .catch((error) => process.stderr.write(`close failed: ${(error as Error).stack}\n`))
      // process.exit also flushes a --cpu-prof profile.
      .finally(() => process.exit(0));
  };
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'stop') shutdown();
  });
  process.on('disconnect', shutdown);
  process.on('SIGTERM', shutdown);
}

export function reportStartFailure(error: unknown): never {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`${text}\n`);
  if (process.send) process.send({ type: 'failed', error: text });
  process.exit(1);
}

/** Answers {type: 'ask', id, question} messages from the parent with {type: 'answer', id, data}. */
export function answer(question: string, handler: () => unknown): void {
  process.on('message', async (message: { type?: string; id?: number; question?: string }) => {
    if (message?.type !== 'ask' || message.question !== question) return;
    try {
      process.send!({ type: 'answer', id: message.id, data: await handler() });
    } catch (error) {
      process.send!({ type: 'answer', id: message.id, error: (error as Error).message });
    }
  });
}
