import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The chaos suite runs on its own (`npm run chaos`, vitest.chaos.config.ts).
    exclude: ['**/node_modules/**', 'test/chaos/**'],
    testTimeout: 30_000,
    // The dashboard's page (dist/dashboard/web), built once per run if stale: the browser tests and the
    // dashboard's HTTP tests serve it.
    globalSetup: ['test/browser/global-setup.ts'],
    hookTimeout: 30_000,
    // Tests spawn bin/celeriac.js: make it run the sources they import, never a dist/ left by a build
    // (the bench builds one), whose CLI would then load a src/ app beside its own copy of the library.
    env: { CELERIAC_CLI: 'src' },
    // Integration and interop suites start real workers and services; two cores, so keep the fan-out modest.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
