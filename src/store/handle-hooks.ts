// A callback kept per database handle and reachable from any transaction of it. Knex's `userParams` would
// be the obvious carrier but nested transactions lose them; the knex client's configuration object is
// shared by the handle and every transaction of it, nested ones too, so it is the key here. This lets a
// store function tell its own process what it just wrote (store/revocations.ts, store/change-notices.ts)
// without threading a callback through every caller.
import type { Db } from './db.ts';

export function createHandleHook<Hook>() {
  const hooks = new WeakMap<object, Hook>();
  return {
    set(db: Db, hook: Hook): void {
      hooks.set(db.client.config as object, hook);
    },
    get(db: Db): Hook | undefined {
      return hooks.get(db.client.config as object);
    },
  };
}
