// toProblem: the one mapping from anything thrown to what a caller is told (status, OAuth code, description,
// Retry-After, details), and the CLI's rendering of it. Pure functions: no server, no database.
import Koa from 'koa';
import { errors as engineErrors } from 'oidc-provider';
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../src/cli/output.ts';
import { AppError, Conflict, InvalidInput, NotFound, TemporarilyUnavailable, UsageError, ValidationError } from '../../src/errors.ts';
import { GENERIC_DESCRIPTION, toProblem } from '../../src/problem.ts';

/** An error as node-postgres raises it: a message and a SQLSTATE (or a socket error code). */
const pgError = (message: string, code: string) => Object.assign(new Error(message), { code });

/** Koa's own errors (http-errors), made the way `ctx.throw` makes them. */
function koaError(status: number, message?: string): unknown {
  const { context } = new Koa();
  try {
    if (message === undefined) context.throw(status);
    else context.throw(status, message);
  } catch (error) {
    return error;
  }
  throw new Error('ctx.throw did not throw');
}

describe('toProblem', () => {
  it('answers an unreachable database with 503 temporarily_unavailable and Retry-After 5, however it is wrapped', () => {
    const refused = pgError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
    const unreachable = [
      refused,
      pgError('terminating connection due to administrator command', '57P01'),
      Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' }),
      new Error('Connection terminated unexpectedly'),
      new Error('select 1 - connect ECONNREFUSED', { cause: refused }),
      Object.assign(new AggregateError([refused], ''), { name: 'AggregateError' }),
      // What oidc/database-errors.ts throws inside the engine's hooks.
      Object.assign(new engineErrors.TemporarilyUnavailable('try again', { cause: refused }), { status: 503 }),
      new TemporarilyUnavailable(),
    ];
    for (const error of unreachable) {
      expect(toProblem(error), String(error)).toEqual({
        status: 503,
        error: 'temporarily_unavailable',
        description: 'the service is temporarily unavailable; try again shortly',
        expose: true,
        retryAfterSeconds: 5,
      });
    }
  });

  it('answers a unique violation (SQLSTATE 23505) with 409 conflict, also when wrapped', () => {
    const duplicate = pgError('duplicate key value violates unique constraint "accounts_username_key_unique"', '23505');
    for (const error of [duplicate, new Error('insert failed', { cause: duplicate })]) {
      const problem = toProblem(error);
      expect(problem).toEqual({ status: 409, error: 'conflict', description: 'that already exists', expose: true });
      expect(problem.description).not.toContain('accounts_username_key');
    }
  });

  it('answers each SQLSTATE of a value PostgreSQL cannot represent with 400 invalid_request', () => {
    for (const code of ['22021', '22P05', '22P02', '22003', '22008', '22007']) {
      const problem = toProblem(pgError('invalid byte sequence for encoding "UTF8": 0x00', code));
      expect(problem, code).toMatchObject({ status: 400, error: 'invalid_request', expose: true });
      expect(problem.description, code).toMatch(/cannot be stored/);
      expect(problem.description, code).not.toContain('0x00');
    }
  });

  it('gives a ValidationError its status (422 by default, 400 when malformed) and its details', () => {
    expect(toProblem(new ValidationError('redirect URI must use https'))).toEqual({
      status: 422,
      error: 'invalid_request',
      description: 'redirect URI must use https',
      expose: true,
      details: [],
    });
    expect(toProblem(new ValidationError('cursor is not valid', 400))).toMatchObject({ status: 400, error: 'invalid_request' });
    const details = [{ path: ['redirect_uris', 0], message: 'must be a URL' }];
    expect(toProblem(new InvalidInput(422, 'body field redirect_uris.0: must be a URL', details))).toEqual({
      status: 422,
      error: 'invalid_request',
      description: 'body field redirect_uris.0: must be a URL',
      expose: true,
      details,
    });
  });

  it("keeps an AppError's status, code and description, and hides the description of one not meant to be shown", () => {
    expect(toProblem(new NotFound('no client "x"'))).toEqual({ status: 404, error: 'not_found', description: 'no client "x"', expose: true });
    expect(toProblem(new Conflict('username "carol" is already taken'))).toEqual({ status: 409, error: 'conflict', description: 'username "carol" is already taken', expose: true });
    expect(toProblem(new AppError(415, 'invalid_request', 'the request body must be application/json'))).toMatchObject({ status: 415, expose: true });
    expect(toProblem(new AppError(502, 'upstream_error', 'upstream at 10.0.0.7 said: secret detail'))).toEqual({
      status: 502,
      error: 'upstream_error',
      description: GENERIC_DESCRIPTION,
      expose: false,
    });
    expect(toProblem(new UsageError('user create needs --username'))).toEqual({ status: 400, error: 'invalid_usage', description: 'user create needs --username', expose: true });
  });

  it("keeps the engine's own errors (status, OAuth code, description)", () => {
    expect(toProblem(new engineErrors.SessionNotFound('interaction session not found'))).toEqual({
      status: 400,
      error: 'invalid_request',
      description: 'interaction session not found',
      expose: true,
    });
    expect(toProblem(new engineErrors.InvalidClient('client authentication failed'))).toMatchObject({ status: 400, error: 'invalid_client', description: 'client authentication failed' });
  });

  it("gives Koa's http-errors their status: a 4xx says what was wrong, a 5xx says nothing", () => {
    expect(toProblem(koaError(400, 'malformed cookie'))).toEqual({ status: 400, error: 'invalid_request', description: 'malformed cookie', expose: true });
    expect(toProblem(koaError(502))).toEqual({ status: 502, error: 'server_error', description: GENERIC_DESCRIPTION, expose: false });
  });

  it('answers anything else with 500 server_error and a generic description that reveals nothing of the error', () => {
    const secretive = new Error('password authentication failed for user "tessera" at /srv/tessera/src/store/db.ts:42');
    const unknown = [
      secretive,
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      'a thrown string',
      undefined,
      null,
      { status: 200, message: 'not an error at all' },
      // A status that is someone else's (an upstream's HTTP answer), not ours to repeat.
      Object.assign(new Error('issuer answered 401'), { status: 401 }),
    ];
    for (const error of unknown) {
      const problem = toProblem(error);
      expect(problem, String(error)).toEqual({ status: 500, error: 'server_error', description: GENERIC_DESCRIPTION, expose: false });
    }
    expect(JSON.stringify(toProblem(secretive))).not.toMatch(/tessera"|db\.ts|password/);
  });
});

describe('the CLI line and exit status', () => {
  it('exits 2 for a usage error and 1 with the description for any other refusal', () => {
    expect(describeFailure(new UsageError('user create needs --username'))).toEqual({ exitCode: 2, line: 'user create needs --username' });
    expect(describeFailure(new Conflict('username "carol" is already taken'))).toEqual({ exitCode: 1, line: 'username "carol" is already taken' });
    // A unique index that decided a race is a refusal, not a crash.
    expect(describeFailure(pgError('duplicate key value', '23505'))).toEqual({ exitCode: 1, line: 'that already exists' });
  });

  it('names the database and its error when it cannot be reached, and the error itself for a fault (to the operator)', () => {
    expect(describeFailure(pgError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'))).toEqual({
      exitCode: 1,
      line: 'cannot reach the database (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:1',
    });
    expect(describeFailure(pgError('database "nowhere" does not exist', '3D000')).line).toBe('cannot reach the database (3D000): database "nowhere" does not exist');
    expect(describeFailure(new Error('boom'))).toEqual({ exitCode: 1, line: 'unexpected error: boom' });
    // A 503 the serving process answered through the control socket arrives as words already.
    expect(describeFailure(new AppError(503, 'operation_failed', 'the service is temporarily unavailable; try again shortly', true)).line).toBe(
      'the service is temporarily unavailable; try again shortly',
    );
  });
});
