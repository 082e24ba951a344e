// `tessera doctor [--json]`. On the embedded database with a server running, the checks run inside that
// server (PGlite allows one process per data directory); otherwise on a direct, unmigrated connection, so
// pending migrations are reported rather than applied. Doctor never creates anything: a data directory that
// does not exist is reported, not made.
import { createDatabase } from '../store/db.ts';
import { createSecretBox } from '../domain/secret-box.ts';
import { resolveInstanceSecret } from '../runtime.ts';
import { callControlSocket, controlSocketPath } from '../control-socket.ts';
import { print } from './io.ts';
import { embeddedOnDisk, missingDataDir } from './run-operation.ts';
import type { CommandContext, CommandSpec, FlagValues } from './command.ts';
import { dataDirCheck, formatReport, issuerCheck, localChecks, type Check } from '../services/diagnostics.ts';

async function databaseChecks(ctx: CommandContext): Promise<Check[]> {
  const { config } = ctx;
  if (ctx.runtime) return localChecks(config, ctx.runtime.db, ctx.runtime.box);
  const reply = embeddedOnDisk(config) ? await callControlSocket(controlSocketPath(config.dataDir), 'doctor', {}) : undefined;
  if (reply?.ok) return (reply.result as { checks: Check[] }).checks;
  const db = createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: 2 });
  try {
    return await localChecks(config, db, createSecretBox(resolveInstanceSecret(config, ctx.logger)));
  } finally {
    await db.destroy();
  }
}

async function doctor(ctx: CommandContext, values: FlagValues): Promise<number> {
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
