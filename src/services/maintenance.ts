// Keeping the installation in shape: readiness for load balancers. (Migrations and the database checks of
// `tessera doctor` join this file when the operations table moves into services/.)
import type { ServiceContext } from './context.ts';
import { pendingMigrations, ping } from '../store/db.ts';

export type Readiness = { ready: true } | { ready: false; reason: 'database unreachable' } | { ready: false; reason: 'migrations pending'; pending: string[] };

/** Whether this process can serve: the database answers within 2 s and its schema is current. */
export async function readiness(ctx: ServiceContext): Promise<Readiness> {
  try {
    await ping(ctx.runtime.db);
    const pending = await pendingMigrations(ctx.runtime.db);
    return pending.length === 0 ? { ready: true } : { ready: false, reason: 'migrations pending', pending };
  } catch {
    return { ready: false, reason: 'database unreachable' };
  }
}
