import { defineConfig } from 'vitest/config';

// The chaos suite (`npm run chaos`, test/chaos): real brokers, worker processes killed with SIGKILL,
// broker restarts and a faulty TCP proxy. One file at a time: each one loads the 2-core machine already.
// CHAOS_SIZE=small (default, CI) or full; figures go to bench/results/chaos/ (scripts/chaos-report.ts).
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    env: { CELERIAC_CLI: 'src' },
    pool: 'forks',
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    fileParallelism: false,
  },
});
