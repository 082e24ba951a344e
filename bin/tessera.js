#!/usr/bin/env node
// Entry point of the `tessera` command: the process around main() (src/cli/index.ts), which takes the
// arguments, standard streams and environment and returns the exit status. The sources are TypeScript run
// directly by Node's type stripping (on by default from Node 22.18; enabled here by flag on 22.12-22.17).
import { spawnSync } from 'node:child_process';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`tessera: Node.js >= 22.12 is required (this is ${process.version}); Node 24 LTS is recommended\n`);
  process.exit(1);
}
if (!process.features.typescript) {
  const child = spawnSync(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}
// `serve` starts again at once with the memory settings of serve-settings.js (same process id).
if (process.argv[2] === 'serve') {
  const [{ REEXEC_MARKER, serveSettings }, { getHeapStatistics }] = await Promise.all([import('./serve-settings.js'), import('node:v8')]);
  const settings = serveSettings({
    args: process.argv.slice(2),
    execArgv: process.execArgv,
    env: process.env,
    platform: process.platform,
    canExec: typeof process.execve === 'function',
    heapLimitMiB: getHeapStatistics().heap_size_limit / 1048576,
  });
  if (settings) process.execve(process.execPath, [process.execPath, ...settings.flags, ...process.execArgv, ...process.argv.slice(1)], settings.env);
  delete process.env[REEXEC_MARKER];
}
// Stripping the types of every source file and compiling it was most of a CLI command's time (0.70 s → 0.47 s
// for `user list` on PostgreSQL, docs/benchmarks.md); Node keeps both in this cache, checked against each
// file's contents. In the checkout, not the shared temporary directory another user could write to; where it
// cannot be written (a read-only container) Node simply goes without.
if (!process.env.NODE_COMPILE_CACHE) module.enableCompileCache?.(fileURLToPath(new URL('../.cache/node-compile-cache', import.meta.url)));
const { main } = await import('../src/cli/index.ts');
const { drainProcessOutput, processIo } = await import('../src/cli/io.ts');
const code = await main(process.argv.slice(2), processIo());
// Exit once the output is out (pino flushes its own on exit), whatever timers or sockets a library left
// open — and so end `serve` after its shutdown.
await drainProcessOutput();
process.exit(code);
