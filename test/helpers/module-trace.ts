// Preloaded into a `tessera` child process (NODE_OPTIONS=--import=…) by test/core/cli-loading.test.ts: records
// the URL of every module the process loads — ES modules and require()d CommonJS alike — and writes the list
// as JSON to the file TESSERA_MODULE_TRACE names when the process exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env.TESSERA_MODULE_TRACE;
if (file) {
  const loaded = new Set<string>();
  registerHooks({
    load(url, context, nextLoad) {
      loaded.add(url);
      return nextLoad(url, context);
    },
  });
  process.on('exit', () => writeFileSync(file, JSON.stringify([...loaded])));
}
