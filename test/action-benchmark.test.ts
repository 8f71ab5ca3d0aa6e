import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../examples/server/server.js';
import { RunnerSandbox } from './support/runner.js';

const example = (f: string) => resolve('examples', f);
const QUICK = { warmup: '20ms', 'min-duration': '200ms', window: '100ms', 'min-count': '5' };

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ model: example('model.onnx'), port: 0 });
});
afterAll(() => server.close());

describe('the bundled benchmark action, run as the runner runs it', () => {
  it('measures a model in-process and writes outputs, the summary and the annotations of a failed gate', async () => {
    const sandbox = new RunnerSandbox('benchmark');
    const run = await sandbox.run({
      ...QUICK,
      model: example('model.onnx'),
      'batch-sizes': '1,4',
      gates: 'p95_ms <= 60000\nmax_ms(4) <= 0.000001',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(1);
    expect(run.outputs.provider).toBe('cpu');
    expect(Number(run.outputs['p95-ms'])).toBeGreaterThan(0);
    expect(run.outputs.regression).toBe('false');
    expect(run.summary).toContain('mlgate benchmark: failed');
    expect(run.summary).toContain('xychart-beta');
    expect(run.stdout).toContain('::error title=Gate failed (mlgate benchmark)::max_ms(4) <= 0.000001');
  });

  it('load-tests an endpoint and masks header values in the log', async () => {
    const sandbox = new RunnerSandbox('benchmark');
    const run = await sandbox.run({
      ...QUICK,
      url: `${server.url}/predict/batch`,
      'body-template': '{"instances": [[1,2,3,4,5,6,7,8,9]]}',
      headers: 'Authorization: Bearer hush-hush-token',
      concurrency: '2',
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('::add-mask::Bearer hush-hush-token');
    expect(run.stdout.replace('::add-mask::Bearer hush-hush-token', '')).not.toContain('hush-hush');
    expect(run.outputs['error-rate']).toBe('0');
    expect(Number(run.outputs.throughput)).toBeGreaterThan(0);
  });
});
