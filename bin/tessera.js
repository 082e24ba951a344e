#!/usr/bin/env node
// Entry point of the `tessera` command. The sources are TypeScript run directly by Node's type stripping
// (on by default from Node 22.18; enabled here by flag on 22.12-22.17).
import { spawnSync } from 'node:child_process';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`tessera: Node.js >= 22.12 is required (this is ${process.version}); Node 24 LTS is recommended\n`);
  process.exit(1);
}
if (!process.features.typescript) {
  const child = spawnSync(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}
await import('../src/cli/index.ts');
