import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Native engines (onnxruntime, DuckDB) each spin their own threads; two cores are shared.
    pool: 'forks',
    maxWorkers: 2,
  },
});
