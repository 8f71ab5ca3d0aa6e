import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusAvailable, type RunningPrometheus, startPrometheus } from './support/prometheus.js';
import { RunnerSandbox } from './support/runner.js';

const NOW = Math.floor(Date.now() / 1000);

let prometheus: RunningPrometheus;
beforeAll(async () => {
  if (!prometheusAvailable) return;
  const samples: string[] = [];
  for (let t = NOW - 600; t <= NOW; t += 15) {
    for (const variant of ['canary', 'stable']) samples.push(`errors_ratio{variant="${variant}"} 0.001 ${t}`);
  }
  prometheus = await startPrometheus(['# TYPE errors_ratio gauge', ...samples, '# EOF', ''].join('\n'));
});
afterAll(() => prometheus?.stop());

describe.skipIf(!prometheusAvailable)('the bundled canary-gate action, run as the runner runs it', () => {
  it('decides, writes the decision output and the summary, and masks the token', async () => {
    const sandbox = new RunnerSandbox('canary-gate');
    const run = await sandbox.run({
      'provider-url': prometheus.url,
      'bearer-token': 'prom-secret-token',
      interval: '10ms',
      iterations: '2',
      metrics: `
variants: { canary: canary, baseline: stable }
metrics:
  - name: errors
    query: max(errors_ratio{variant="{{variant}}"})
    threshold: canary <= baseline * 1.5
`,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.outputs.decision).toBe('promote');
    expect(run.outputs.score).toBe('100');
    expect(run.summary).toContain('mlgate canary-gate: ✅ promote');
    expect(run.stdout).toContain('::add-mask::prom-secret-token');
    expect(run.stdout.replace('::add-mask::prom-secret-token', '')).not.toContain('prom-secret-token');
  });
});
