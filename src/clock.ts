// The time a process's schedules run on. Production uses the system clock; tests pass a clock they move
// forward themselves, so a schedule (key rotation) is checked step by step instead of by waiting for it.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
