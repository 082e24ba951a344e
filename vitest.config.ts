import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Server-level tests: each file starts its own server on its own database.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Test files share their worker's module cache: nothing in src/ or test/helpers is a module-level
    // singleton a file could leave changed (each file builds its own server on its own database), and
    // reusing the modules saves every file importing the source again and PGlite compiling its WebAssembly.
    isolate: false,
    maxWorkers: 2,
    setupFiles: ['test/helpers/http-client.ts'],
    globalSetup: ['test/helpers/memory-image.ts'],
    projects: [
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**', 'test/interop/**'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
      // Real third-party software (Apache modules, Python Authlib) against a real Tessera: `npm run test:interop`.
      { extends: true, test: { name: 'interop', include: ['test/interop/**/*.test.ts'] } },
    ],
  },
});
