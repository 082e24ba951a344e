// A unit of work: one transaction held for one request, opened by the first statement that needs it and
// committed (or rolled back) by whoever opened the unit, before the request is answered.
// - Code running for the request reaches the transaction through `db`, a stand-in for the database handle
//   that forwards every call to the open transaction of the current unit (AsyncLocalStorage), and to the
//   pool otherwise. The engine's hooks are all handed that stand-in (oidc/provider.ts).
// - A request holding its transaction never waits for a second pooled connection: with a pool of n (one
//   on PGlite), n requests each holding one and each waiting for another would wait for each other until
//   the acquire timeout. Asking the pool from inside an open unit is therefore refused at once (a bug, and
//   loud in tests), and the caches never hand a unit a load that is still waiting for the pool
//   (oidc/short-lived-cache.ts, engine-records.ts createTokenLookups).
// - Work that should join the transaction but has no place in the request's own flow (the grant revocation
//   of a replayed refresh token, audit rows) is queued with `beforeCommit` and runs, in the transaction,
//   just before COMMIT; `afterCommit` runs once the commit is known to have succeeded.
// - Work for the end of the request that needs no transaction of its own — one atomic statement, such as a
//   refresh token's rotation (store/engine-records.ts rotate) — is queued the same way through `deferred`
//   on a unit that never opened: it then runs on the pool when the unit finishes, and the request is
//   answered only after it.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from './db.ts';

interface Unit {
  root: Db;
  /** The open transaction, from BEGIN until the unit is finished. */
  trx: Db | undefined;
  opening: Promise<Db> | undefined;
  /** Ends the transaction knex holds open for us: commit (true) or roll back (false). */
  settle: ((commit: boolean) => void) | undefined;
  /** Knex's transaction promise: rejects when acquiring, BEGIN or COMMIT failed. */
  outcome: Promise<unknown> | undefined;
  /** The first statement that failed inside the transaction (PostgreSQL then refuses the rest). */
  failure: unknown;
  beforeCommit: Map<string, (trx: Db, outcome: Outcome) => Promise<void>>;
  afterCommit: Array<() => void>;
  finished: boolean;
}

const units = new AsyncLocalStorage<Unit>();
const ROLLED_BACK = Symbol('rolled back');

/** Whether the current request holds a transaction of its own (it must then never wait for the pool). */
export function holdsTransaction(): boolean {
  return units.getStore()?.trx !== undefined;
}

export class SecondConnectionRefused extends Error {
  constructor() {
    super('a request holding a transaction asked the pool for a second connection');
    this.name = 'SecondConnectionRefused';
  }
}

const guarded = new WeakSet<object>();

/** Refuses pool acquisitions made from inside an open unit of this handle (see the header). */
function guardPool(root: Db): void {
  const client = root.client as { acquireConnection: () => Promise<unknown> };
  if (guarded.has(client)) return;
  guarded.add(client);
  const acquire = client.acquireConnection.bind(client);
  client.acquireConnection = () => {
    const unit = units.getStore();
    if (unit?.trx && unit.root === root) return Promise.reject(new SecondConnectionRefused());
    return acquire();
  };
}

export interface UnitOfWork {
  /** The database handle for request code: the current unit's transaction when one is open, else the pool. */
  db: Db;
  /** Runs `fn` as one unit: nothing is opened until `begin` is called inside it. */
  run<T>(fn: () => Promise<T>): { result: Promise<T>; unit: UnitHandle };
  /** Opens the current unit's transaction (once); undefined outside a unit. */
  begin(): Promise<Db> | undefined;
  /** The current unit's open transaction, if any. */
  open(): OpenUnit | undefined;
  /**
   * The current unit, opened or not: tasks queued here run when it finishes — in its transaction before
   * COMMIT if it opened one, else one after another on the pool (each must then be atomic on its own).
   */
  deferred(): DeferredWork | undefined;
}

/** What the request's answer was, as the unit's owner tells `finish`. */
export interface Outcome {
  /** A success (2xx): work that only belongs with a success (a rotation's writes) is done only then. */
  succeeded: boolean;
}

export interface DeferredWork {
  /** Runs `task` just before COMMIT (or at the end); one task per key (a later one with the same key is dropped). */
  beforeCommit(key: string, task: (trx: Db, outcome: Outcome) => Promise<void>): void;
  /** Runs `task` once the commit (or the deferred work) succeeded. */
  afterCommit(task: () => void): void;
}

export interface OpenUnit extends DeferredWork {
  trx: Db;
}

export interface UnitHandle {
  /** Whether the unit ever opened its transaction or queued work: whether `finish` has anything to do. */
  readonly pending: boolean;
  /** The first statement error inside the transaction, if any. */
  readonly failure: unknown;
  /**
   * Ends the transaction: with `commit`, runs the queued work, then COMMIT; rejects when any of that failed
   * (everything is then rolled back). Without, ROLLBACK (never rejects). Nothing to do if never opened.
   */
  finish(commit: boolean, outcome?: Outcome): Promise<void>;
}

function deferredWork(unit: Unit): DeferredWork {
  return {
    beforeCommit: (key, task) => {
      if (!unit.beforeCommit.has(key)) unit.beforeCommit.set(key, task);
    },
    afterCommit: (task) => void unit.afterCommit.push(task),
  };
}

export function createUnitOfWork(root: Db): UnitOfWork {
  guardPool(root);
  const current = (): Unit | undefined => {
    const unit = units.getStore();
    return unit?.root === root ? unit : undefined;
  };
  const target = (): Db => current()?.trx ?? root;
  // A stand-in for the knex handle (itself a function with properties) that forwards to target().
  const db = new Proxy(root, {
    apply: (_fn, _this, args: unknown[]) => Reflect.apply(target() as unknown as (...a: unknown[]) => unknown, undefined, args),
    get: (_fn, property) => {
      const handle = target();
      const value = Reflect.get(handle, property) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(handle) : value;
    },
  }) as Db;

  function begin(unit: Unit): Promise<Db> {
    if (unit.finished) return Promise.reject(new Error('the unit of work is finished'));
    unit.opening ??= new Promise<Db>((resolve, reject) => {
      unit.outcome = root.transaction((trx) => {
        // Knex still calls us when BEGIN failed (the connection died): its promise rejects with that
        // error, which rejects `opening` below; the transaction must not be handed out.
        if (trx.isCompleted()) return Promise.resolve();
        unit.trx = trx;
        (trx.client as { on(event: string, listener: (error: unknown) => void): void }).on('query-error', (error) => {
          unit.failure ??= error;
        });
        resolve(trx);
        return new Promise<void>((commit, rollback) => {
          unit.settle = (ok) => (ok ? commit() : rollback(ROLLED_BACK));
        });
      });
      // Before the transaction opened (no connection, BEGIN refused); once open, resolve() has happened.
      unit.outcome.catch(reject);
    });
    return unit.opening;
  }

  /** Queued work of a unit that never opened a transaction: each task on the pool, in order. */
  async function finishUnopened(unit: Unit, commit: boolean, outcome: Outcome): Promise<void> {
    if (!commit) return;
    for (const task of unit.beforeCommit.values()) await task(root, outcome);
    for (const task of unit.afterCommit) task();
  }

  async function finish(unit: Unit, commit: boolean, outcome: Outcome): Promise<void> {
    if (unit.finished) return;
    unit.finished = true;
    if (!unit.opening) return finishUnopened(unit, commit, outcome);
    let trx: Db;
    try {
      trx = await unit.opening;
    } catch {
      return; // never opened
    }
    let error: unknown;
    if (commit) {
      try {
        // Queued work may queue more (each key once).
        const done = new Set<string>();
        for (let pending = [...unit.beforeCommit.keys()]; pending.length > 0; pending = [...unit.beforeCommit.keys()].filter((k) => !done.has(k))) {
          for (const key of pending) {
            done.add(key);
            await units.run(unit, () => unit.beforeCommit.get(key)!(trx, outcome));
          }
        }
      } catch (e) {
        error = e;
      }
      if (error === undefined && unit.failure !== undefined) error = unit.failure;
    }
    const committing = commit && error === undefined;
    unit.trx = undefined;
    unit.settle!(committing);
    try {
      await unit.outcome;
    } catch (e) {
      if (e !== ROLLED_BACK) error ??= e;
    }
    if (!committing) {
      if (commit) throw error;
      return;
    }
    if (error !== undefined) throw error;
    for (const task of unit.afterCommit) task();
  }

  return {
    db,
    run(fn) {
      const unit: Unit = { root, trx: undefined, opening: undefined, settle: undefined, outcome: undefined, failure: undefined, beforeCommit: new Map(), afterCommit: [], finished: false };
      const result = units.run(unit, fn);
      return {
        result,
        unit: {
          get pending() {
            return unit.opening !== undefined || unit.beforeCommit.size > 0 || unit.afterCommit.length > 0;
          },
          get failure() {
            return unit.failure;
          },
          finish: (commit, outcome = { succeeded: commit }) => finish(unit, commit, outcome),
        },
      };
    },
    begin() {
      const unit = current();
      return unit ? begin(unit) : undefined;
    },
    open() {
      const unit = current();
      if (!unit?.trx) return undefined;
      return { trx: unit.trx, ...deferredWork(unit) };
    },
    deferred() {
      const unit = current();
      return unit && !unit.finished ? deferredWork(unit) : undefined;
    },
  };
}
