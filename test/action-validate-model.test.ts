import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunnerSandbox } from './support/runner.js';

const example = (f: string) => resolve('examples', f);
const base = {
  model: example('model.onnx'),
  data: example('test.csv'),
  'label-column': 'churned',
  'slice-columns': 'region',
};

describe('the bundled validate-model action, run as the runner runs it', () => {
  let sandbox: RunnerSandbox;
  let first: ReturnType<RunnerSandbox['run']>;

  beforeAll(() => {
    sandbox = new RunnerSandbox('validate-model');
    first = sandbox.run({
      ...base,
      'baseline-model': example('baseline.onnx'),
      gates: 'accuracy >= 0.85\nf1_macro >= baseline - 0.01',
    });
  });

  it('installs the native engines into the tool cache on first use and passes', () => {
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('Installing native engines');
    expect(existsSync(join(sandbox.toolCache, 'mlgate-native'))).toBe(true);
  });

  it('writes the step outputs, the job summary and the JSON report', () => {
    expect(first.outputs.passed).toBe('true');
    expect(Number(first.outputs.accuracy)).toBeCloseTo(0.8744, 4);
    expect(JSON.parse(first.outputs.metrics).f1_macro).toBeGreaterThan(0.8);
    const report = JSON.parse(readFileSync(first.outputs['report-path'], 'utf8'));
    expect(report).toMatchObject({ schemaVersion: 1, command: 'validate-model', passed: true });
    expect(report.gates).toHaveLength(2);
    expect(first.summary).toContain('mlgate validate-model: passed');
    expect(first.summary).toContain('Confusion matrix');
    expect(first.summary).toContain('region=latam');
  });

  it('reuses the tool cache on the next run', () => {
    const again = sandbox.run({ ...base, gates: 'accuracy >= 0.85' });
    expect(again.status).toBe(0);
    expect(again.stdout).not.toContain('Installing native engines');
  });

  it('exits 1 on a failed gate, with an error annotation, and still writes every output', () => {
    const failed = sandbox.run({ ...base, gates: 'accuracy >= 0.99', 'report-path': 'out/failed.json' });
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain('::error title=Gate failed (mlgate validate-model)::accuracy >= 0.99');
    expect(failed.outputs.passed).toBe('false');
    expect(failed.summary).toContain('failed');
    expect(JSON.parse(readFileSync(join(sandbox.workspace, 'out/failed.json'), 'utf8')).passed).toBe(false);
  });

  it('exits 2 with one clear message and no stack trace on bad input', () => {
    const bad = sandbox.run({ ...base, model: example('missing.onnx') });
    expect(bad.status).toBe(2);
    expect(bad.stdout).toMatch(/::error::input "model" \(.*missing\.onnx\): file not found/);
    expect(bad.stdout).not.toMatch(/\n\s+at /);
    expect(bad.outputs.passed).toBe('false');
  });

  it('under act, with comment: true and no pull request, skips the comment with a notice', () => {
    const act = sandbox.run({ ...base, comment: 'true', 'github-token': '' }, { ACT: 'true' });
    expect(act.status).toBe(0);
    expect(act.stdout).toContain('PR comment skipped');
  });
});
