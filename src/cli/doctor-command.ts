// `tessera doctor [--json]`. On the embedded database with a server running, the checks run inside that
// server (PGlite allows one process per data directory); otherwise on a direct, unmigrated connection, so
// pending migrations are reported rather than applied. Doctor never creates anything: a data directory that
// does not exist is reported, not made.
// The checks and the database are imported when the command runs (the spec is loaded for every command).
import { print } from './io.ts';
import { embeddedOnDisk, missingDataDir } from './run-operation.ts';
import type { CommandContext, CommandSpec, FlagValues } from './command.ts';
import type { Check } from '../services/diagnostics.ts';

async function databaseChecks(ctx: CommandContext): Promise<Check[]> {
  const { config } = ctx;
  const { localChecks } = await import('../services/diagnostics.ts');
  if (ctx.runtime) return localChecks(config, ctx.runtime.db, ctx.runtime.box);
  const { callControlSocket, controlSocketPath } = await import('../control-socket.ts');
  const reply = embeddedOnDisk(config) ? await callControlSocket(controlSocketPath(config.dataDir), 'doctor', {}) : undefined;
  if (reply?.ok) return (reply.result as { checks: Check[] }).checks;
  const [{ createDatabase }, { createSecretBox }, { resolveInstanceSecret }] = await Promise.all([
    import('../store/db.ts'),
    import('../domain/secret-box.ts'),
    import('../runtime.ts'),
  ]);
  const db = createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: 2 });
  try {
    return await localChecks(config, db, createSecretBox(resolveInstanceSecret(config, ctx.logger)));
  } finally {
    await db.destroy();
  }
}

async function doctor(ctx: CommandContext, values: FlagValues): Promise<number> {
  const { dataDirCheck, formatReport, issuerCheck } = await import('../services/diagnostics.ts');
  const missing = missingDataDir(ctx);
  let checks: Check[];
  if (missing) {
    const detail = `${missing.dir} does not exist (${missing.setting}): set TESSERA_DATA_DIR to the server's data directory (\`tessera serve\` creates it on its first start)`;
    checks = [{ name: 'data directory', status: 'fail', detail }];
  } else {
    // Before anything opens the database, which makes the directory private again.
    const dataDir = dataDirCheck(ctx.config);
    checks = await databaseChecks(ctx);
    if (dataDir) checks.push(dataDir);
  }
  checks.push(await issuerCheck(ctx.config));
  const ok = !checks.some((c) => c.status === 'fail');
  print(ctx.io, values.json === true, { ok, checks }, formatReport(checks));
  return ok ? 0 : 1;
}

export const doctorCommands: CommandSpec[] = [
  {
    name: 'doctor',
    synopsis: '',
    summary:
      'Check the configuration, database, migrations, keys, clock and issuer URL, and (embedded) that the data directory exists and is owner-only. Exit 1 on a problem; nothing is created or changed.',
    flags: {},
    init: false,
    example: 'tessera doctor --json',
    run: doctor,
  },
];
