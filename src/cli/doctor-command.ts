// `tessera doctor [--json]`. On the embedded database with a server running, the checks run inside that
// server (PGlite allows one process per data directory); otherwise on a direct, unmigrated connection, so
// pending migrations are reported rather than applied.
import { createDatabase } from '../store/db.ts';
import { createSecretBox } from '../domain/secret-box.ts';
import { resolveInstanceSecret } from '../runtime.ts';
import { callControlSocket, controlSocketPath } from './control-socket.ts';
import { parse, type CommandContext } from './commands.ts';
import { print } from './output.ts';
import { dataDirCheck, formatReport, issuerCheck, localChecks, type Check } from './doctor.ts';

export async function doctor(ctx: CommandContext, args: string[]): Promise<void> {
  const { values } = parse(args, {});
  const { config } = ctx;
  const embedded = !config.databaseUrl && config.dataDir !== ':memory:';
  // Before anything opens the database, which makes the directory private again.
  const dataDir = dataDirCheck(config);
  const reply = embedded ? await callControlSocket(controlSocketPath(config.dataDir), 'doctor', {}) : undefined;
  let checks: Check[];
  if (reply?.ok) {
    checks = (reply.result as { checks: Check[] }).checks;
  } else {
    const db = createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: 2 });
    try {
      checks = await localChecks(config, db, createSecretBox(resolveInstanceSecret(config, ctx.logger)));
    } finally {
      await db.destroy();
    }
  }
  if (dataDir) checks.push(dataDir);
  checks.push(await issuerCheck(config));
  const ok = !checks.some((c) => c.status === 'fail');
  print(values.json === true, { ok, checks }, formatReport(checks));
  if (!ok) process.exitCode = 1;
}
