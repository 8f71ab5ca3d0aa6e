import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunnerSandbox } from './support/runner.js';

const example = (f: string) => resolve('examples', 'data', f);

describe('the bundled validate-data action, run as the runner runs it', () => {
  it('checks the example, fails on its schema errors, and still writes outputs, summary and failing rows', async () => {
    const sandbox = new RunnerSandbox('validate-data');
    const run = await sandbox.run({
      data: example('current.csv'),
      reference: example('reference.csv'),
      schema: example('schema.yml'),
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(1);
    expect(run.outputs.passed).toBe('false');
    expect(Number(run.outputs['schema-errors'])).toBeGreaterThan(0);
    expect(run.outputs['drifted-columns']).toContain('monthly_charges');
    expect(readFileSync(run.outputs['failing-rows-path'], 'utf8')).toContain('age:minimum');
    expect(run.summary).toContain('mlgate validate-data: failed');
    expect(run.summary).toContain('#### Drift');
    expect(run.stdout).toContain('::error title=Gate failed (mlgate validate-data)::schema_errors == 0');
  });
});
