// Shared CLI plumbing: JSON or readable output, stdin reading, and the error contract (one line, exit code).
import { AppError } from '../errors.ts';

export function print(json: boolean, value: Record<string, unknown>, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('--password-stdin expects the password on standard input (e.g. `printf %s "$PW" | tessera ...`)');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export class UsageError extends Error {}

export function reportAndExit(error: unknown): never {
  if (error instanceof UsageError) {
    process.stderr.write(`tessera: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof AppError && error.expose) {
    process.stderr.write(`tessera: ${error.description}\n`);
    process.exit(1);
  }
  const e = error as { code?: string; message?: string };
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOTFOUND' || e?.code === '3D000' || e?.code === '28P01') {
    process.stderr.write(`tessera: cannot reach the database (${e.code}): ${e.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`tessera: unexpected error: ${e?.message ?? String(error)}\n`);
  process.exit(1);
}
