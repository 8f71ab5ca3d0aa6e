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
    // @actions/workflow-parser imports its JSON schemas without `with { type: 'json' }`, which Node
    // refuses; inlined, Vite transforms those imports.
    server: { deps: { inline: ['@actions/workflow-parser'] } },
  },
});
