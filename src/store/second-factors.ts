// Second factors (account_factors) and recovery codes (recovery_codes), migration 20261201170000. A TOTP
// code's time step is claimed with one conditional UPDATE, and a recovery code is spent with one, so two
// parallel sign-ins cannot both use the same code.
import type { Db } from './db.ts';

export interface FactorRow {
  id: string;
  accountId: string;
  kind: string;
  label: string;
  secretSealed: string | null;
  lastStep: number;
  confirmedAt: Date | null;
  createdAt: Date;
}

type Raw = { id: string; account_id: string; kind: string; label: string; secret_sealed: string | null; last_step: string | number; confirmed_at: Date | string | null; created_at: Date | string };
const date = (v: Date | string) => (v instanceof Date ? v : new Date(v));
const toRow = (r: Raw): FactorRow => ({
  id: r.id,
  accountId: r.account_id,
  kind: r.kind,
  label: r.label,
  secretSealed: r.secret_sealed,
  lastStep: Number(r.last_step),
  confirmedAt: r.confirmed_at === null ? null : date(r.confirmed_at),
  createdAt: date(r.created_at),
});

/** Every factor of the account, confirmed or still being enrolled, oldest first. */
export async function factorsOf(db: Db, accountId: string): Promise<FactorRow[]> {
  return (await db<Raw>('account_factors').where('account_id', accountId).orderBy([{ column: 'created_at' }, { column: 'id' }])).map(toRow);
}

export async function findFactor(db: Db, accountId: string, id: string): Promise<FactorRow | undefined> {
  const r = await db<Raw>('account_factors').where({ account_id: accountId, id }).first();
  return r ? toRow(r) : undefined;
}

/** Starts an enrolment: replaces any unconfirmed factor of that kind. */
export async function insertPendingFactor(db: Db, row: { id: string; accountId: string; kind: string; label: string; secretSealed: string }): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('account_factors').where({ account_id: row.accountId, kind: row.kind }).whereNull('confirmed_at').delete();
    await trx('account_factors').insert({ id: row.id, account_id: row.accountId, kind: row.kind, label: row.label, secret_sealed: row.secretSealed });
  });
}

/** Claims a time step for the factor: true only when it is later than every step used before (atomic). */
export async function claimStep(db: Db, id: string, step: number, confirm: boolean): Promise<boolean> {
  const changes: Record<string, unknown> = { last_step: step };
  if (confirm) changes.confirmed_at = db.fn.now();
  const updated = await db('account_factors').where('id', id).andWhere('last_step', '<', step).update(changes).returning('id');
  return updated.length === 1;
}

export async function deleteFactor(db: Db, accountId: string, id: string): Promise<FactorRow | undefined> {
  const rows = (await db<Raw>('account_factors').where({ account_id: accountId, id }).delete().returning('*')) as Raw[];
  return rows[0] ? toRow(rows[0]) : undefined;
}

/** Removes every factor and recovery code of the account; how many factors there were. */
export async function deleteAllFactors(db: Db, accountId: string): Promise<number> {
  return db.transaction(async (trx) => {
    const removed = await trx('account_factors').where('account_id', accountId).delete();
    await trx('recovery_codes').where('account_id', accountId).delete();
    return removed;
  });
}

export async function replaceRecoveryCodes(db: Db, accountId: string, hashes: string[]): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('recovery_codes').where('account_id', accountId).delete();
    await trx('recovery_codes').insert(hashes.map((h) => ({ account_id: accountId, code_hash: h })));
  });
}

export async function deleteRecoveryCodes(db: Db, accountId: string): Promise<void> {
  await db('recovery_codes').where('account_id', accountId).delete();
}

/** Spends a recovery code: true when it was there and unused (atomic). */
export async function spendRecoveryCode(db: Db, accountId: string, hash: string): Promise<boolean> {
  const updated = await db('recovery_codes').where({ account_id: accountId, code_hash: hash }).whereNull('used_at').update({ used_at: db.fn.now() }).returning('code_hash');
  return updated.length === 1;
}

export async function unusedRecoveryCodes(db: Db, accountId: string): Promise<number> {
  const row = await db('recovery_codes').where('account_id', accountId).whereNull('used_at').count<{ n: string | number }[]>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}
