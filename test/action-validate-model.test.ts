import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GitHubApiStandIn } from './support/github-api-stand-in.js';
import { RunnerSandbox } from './support/runner.js';

const TOKEN = 'ghs_runnerStandInToken0123456789';

const example = (f: string) => resolve('examples', f);
const base = {
  model: example('model.onnx'),
  data: example('test.csv'),
  'label-column': 'churned',
  'slice-columns': 'region',
};

describe('the bundled validate-model action, run as the runner runs it', () => {
  let sandbox: RunnerSandbox;
  let first: Awaited<ReturnType<RunnerSandbox['run']>>;

  beforeAll(async () => {
    sandbox = new RunnerSandbox('validate-model');
    first = await sandbox.run({
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

  it('reuses the tool cache on the next run', async () => {
    const again = await sandbox.run({ ...base, gates: 'accuracy >= 0.85' });
    expect(again.status).toBe(0);
    expect(again.stdout).not.toContain('Installing native engines');
  });

  it('exits 1 on a failed gate, with an error annotation, and still writes every output', async () => {
    const failed = await sandbox.run({
      ...base,
      gates: 'accuracy >= 0.99',
      'report-path': 'out/failed.json',
    });
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain('::error title=Gate failed (mlgate validate-model)::accuracy >= 0.99');
    expect(failed.outputs.passed).toBe('false');
    expect(failed.summary).toContain('failed');
    expect(JSON.parse(readFileSync(join(sandbox.workspace, 'out/failed.json'), 'utf8')).passed).toBe(false);
  });

  it('exits 2 with one clear message and no stack trace on bad input', async () => {
    const bad = await sandbox.run({ ...base, model: example('missing.onnx') });
    expect(bad.status).toBe(2);
    expect(bad.stdout).toMatch(/::error::input "model" \(.*missing\.onnx\): file not found/);
    expect(bad.stdout).not.toMatch(/\n\s+at /);
    expect(bad.outputs.passed).toBe('false');
  });

  it('under act, with comment: true and no pull request, skips the comment with a notice', async () => {
    const act = await sandbox.run({ ...base, comment: 'true', 'github-token': '' }, { ACT: 'true' });
    expect(act.status).toBe(0);
    expect(act.stdout).toContain('PR comment skipped');
  });

  it('on a pull request, posts one sticky comment and updates it in place (GitHub API stand-in)', async () => {
    const api = await GitHubApiStandIn.start({ token: TOKEN });
    try {
      const event = join(sandbox.root, 'event.json');
      writeFileSync(
        event,
        JSON.stringify({
          pull_request: { number: 7 },
          repository: { full_name: `${api.owner}/${api.repo}` },
        }),
      );
      const env = {
        GITHUB_EVENT_NAME: 'pull_request',
        GITHUB_EVENT_PATH: event,
        GITHUB_REPOSITORY: `${api.owner}/${api.repo}`,
        GITHUB_API_URL: api.url,
        GITHUB_JOB: 'model',
      };
      const inputs = { ...base, comment: 'true', 'github-token': TOKEN };
      const runs = [
        await sandbox.run({ ...inputs, gates: 'accuracy >= 0.85' }, env),
        await sandbox.run({ ...inputs, gates: 'accuracy >= 0.99' }, env),
      ];
      expect(runs.map((r) => r.status)).toEqual([0, 1]);
      const comments = api.comments(7);
      expect(comments).toHaveLength(1);
      expect(comments[0].body).toContain('<!-- mlgate:validate-model:model -->');
      expect(comments[0].body).toContain('mlgate validate-model: failed');
      expect(api.violations).toEqual([]);
      // The runner masks what ::add-mask:: names; nothing else may print the token.
      for (const r of runs) expect(r.stdout.replaceAll(`::add-mask::${TOKEN}`, '')).not.toContain(TOKEN);
    } finally {
      await api.close();
    }
  });
});
