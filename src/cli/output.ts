// The CLI's error contract: one line on stderr and an exit code (output and stdin go through io.ts).
import { AppError, USAGE_ERROR, UsageError } from '../errors.ts';
import { toProblem } from '../problem.ts';

// UsageError lives with every other error class (errors.ts); the commands import it from here.
export { UsageError };

// The driver's errors that mean "the configured database cannot be used" when the CLI connects itself: the
// unreachable ones toProblem answers 503, plus a database that does not exist and a refused password.
const CONNECT_CODES = new Set(['3D000', '28P01']);

/**
 * The CLI's rendering of toProblem: exit 2 for a usage error, 1 for any other failure, and one line. Its
 * reader is the operator, who also reads the server's log: where a caller would get a generic description,
 * the line names the underlying error instead (its message, never a stack).
 */
export function describeFailure(error: unknown): { exitCode: 1 | 2; line: string } {
  const problem = toProblem(error);
  if (problem.error === USAGE_ERROR) return { exitCode: 2, line: problem.description };
  const e = error as { code?: unknown; message?: unknown } | null | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  // Not an AppError: a reply of the serving process (through the control socket) already says it in words.
  if (!(error instanceof AppError) && (problem.status === 503 || (code !== undefined && CONNECT_CODES.has(code)))) {
    return { exitCode: 1, line: `cannot reach the database${code ? ` (${code})` : ''}: ${message}` };
  }
  if (!problem.expose) return { exitCode: 1, line: `unexpected error: ${message}` };
  return { exitCode: 1, line: problem.description };
}
