// What the CLI can do, as plain functions of a runtime. The same table serves a direct database connection
// and the embedded server's control socket (see control-socket.ts), so both paths run the same rules.
import type { Runtime } from '../runtime.ts';
import { migrateToLatest } from '../store/db.ts';
import { createAccount, type NewAccount } from '../domain/accounts.ts';
import { createClient, type NewClient } from '../domain/clients.ts';

export const operations = {
  async migrate(rt: Runtime) {
    return { applied: await migrateToLatest(rt.db) };
  },
  async 'user.create'(rt: Runtime, input: NewAccount) {
    const account = await createAccount(rt.db, rt.hasher, input);
    return { id: account.id, username: account.username, email: account.email, name: account.name };
  },
  async 'client.create'(rt: Runtime, input: NewClient) {
    return createClient(rt.db, rt.box, input);
  },
} as const;

export type OperationName = keyof typeof operations;
export type OperationInput<N extends OperationName> = Parameters<(typeof operations)[N]>[1];
export type OperationResult<N extends OperationName> = Awaited<ReturnType<(typeof operations)[N]>>;

export function isOperationName(name: string): name is OperationName {
  return Object.hasOwn(operations, name);
}
