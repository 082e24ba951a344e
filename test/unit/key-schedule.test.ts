// The key schedule as a pure rule over a given clock (domain/keys.ts scheduledAction).
import { describe, expect, it } from 'vitest';
import { scheduledAction } from '../../src/domain/keys.ts';

const DAY = 24 * 3600;
const policy = { intervalSeconds: 30 * DAY, prepublishSeconds: DAY };
const at = (iso: string) => new Date(iso);
const current = (activatedAt: string) => ({ state: 'current' as const, activatedAt: at(activatedAt), activatesAt: null, createdAt: at(activatedAt) });

describe('scheduledAction', () => {
  it('activates a key at once when a group has none signing', () => {
    expect(scheduledAction([], policy, at('2026-01-01T00:00:00Z'))).toEqual({ kind: 'activate' });
  });

  it('does nothing while the current key is not due within the pre-publication window', () => {
    expect(scheduledAction([current('2026-01-01T00:00:00Z')], policy, at('2026-01-29T23:59:59Z'))).toEqual({ kind: 'none' });
  });

  it('stages the next key one pre-publication window before the current one is due, to sign when it is due', () => {
    expect(scheduledAction([current('2026-01-01T00:00:00Z')], policy, at('2026-01-30T00:00:00Z'))).toEqual({
      kind: 'stage',
      activatesAt: at('2026-01-31T00:00:00Z'),
    });
  });

  it('still publishes a late-staged key for the whole window before it signs (the check ran late)', () => {
    expect(scheduledAction([current('2026-01-01T00:00:00Z')], policy, at('2026-02-10T00:00:00Z'))).toEqual({
      kind: 'stage',
      activatesAt: at('2026-02-11T00:00:00Z'),
    });
  });

  it('waits for a staged key, then activates it when its time has come', () => {
    const staged = { state: 'next' as const, activatesAt: at('2026-01-31T00:00:00Z'), activatedAt: null, createdAt: at('2026-01-30T00:00:00Z') };
    const keys = [current('2026-01-01T00:00:00Z'), staged];
    expect(scheduledAction(keys, policy, at('2026-01-30T23:59:59Z'))).toEqual({ kind: 'none' });
    expect(scheduledAction(keys, policy, at('2026-01-31T00:00:00Z'))).toEqual({ kind: 'activate' });
  });

  it('leaves a next key without a start time (prepared by hand) to an operator', () => {
    const prepared = { state: 'next' as const, activatesAt: null, activatedAt: null, createdAt: at('2026-01-02T00:00:00Z') };
    expect(scheduledAction([current('2026-01-01T00:00:00Z'), prepared], policy, at('2026-03-01T00:00:00Z'))).toEqual({ kind: 'none' });
  });
});
