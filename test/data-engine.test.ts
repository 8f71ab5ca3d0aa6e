import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/data/engine.js';
import { ConfigurationError } from '../src/errors.js';
import { MemoryLogger } from '../src/logging.js';

describe('the data engine', () => {
  afterEach(() => {
    delete process.env.MLGATE_MEMORY_LIMIT;
  });

  it('turns DuckDB running out of its memory limit into a configuration error that says how to raise it', async () => {
    process.env.MLGATE_MEMORY_LIMIT = '16MB';
    const engine = await Engine.open(new MemoryLogger(), { tables: true });
    try {
      const query = engine.all(`SELECT count(DISTINCT i::VARCHAR || 'x') AS n FROM range(5000000) t(i)`);
      await expect(query).rejects.toBeInstanceOf(ConfigurationError);
      await expect(query).rejects.toThrow(/ran out of memory .*MLGATE_MEMORY_LIMIT higher \(now 16MB/);
    } finally {
      engine.close();
    }
  });
});
