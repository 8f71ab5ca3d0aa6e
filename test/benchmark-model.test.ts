import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchmark } from '../src/commands/benchmark.js';
import { runCommand } from './support/command.js';

// The benchmark in-process: real ONNX models through onnxruntime-node, real rows of a CSV. Durations are
// kept short; no assertion is about speed, only about what was measured and how it is judged.

const example = (f: string) => resolve('examples', f);
const FEATURES =
  'tenure_months,monthly_charges,total_charges,contract_months,num_products,support_tickets,days_since_last_login,satisfaction_score,age';
const QUICK = { warmup: '20ms', 'min-duration': '150ms', window: '50ms', 'min-count': '5' };

const run = (inputs: Record<string, string>) => runCommand(benchmark, { ...QUICK, ...inputs });

describe('benchmark of a model in-process', () => {
  it('measures each batch size on rows of the data and judges a bare gate at every level', async () => {
    const { outcome, report, details } = await run({
      model: example('model.onnx'),
      data: example('test.csv'),
      'feature-columns': FEATURES,
      'batch-sizes': '1,16',
      gates: 'p95_ms <= 60000\nthroughput(16) >= 0.001\nload_ms <= 60000',
    });
    expect(outcome.exitCode).toBe(0);
    expect(details.levels.map((l: any) => l.level)).toEqual([
      { name: 'batch', value: 1 },
      { name: 'batch', value: 16 },
    ]);
    for (const level of details.levels) {
      expect(level.measured.ok).toBeGreaterThanOrEqual(5);
      expect(level.measured.histogram.count).toBe(level.measured.ok);
      expect(level.metrics.p50_ms).toBeLessThanOrEqual(level.metrics.p95_ms);
      expect(level.metrics.p95_ms).toBeLessThanOrEqual(level.metrics.max_ms);
      expect(level.metrics.error_rate).toBe(0);
    }
    // Throughput counts rows: batch 16 moves 16 rows per call.
    const [one, sixteen] = details.levels;
    expect(sixteen.metrics.throughput).toBeCloseTo(
      (sixteen.measured.ok * 16) / (sixteen.measured.elapsedMs / 1000),
      6,
    );
    expect(one.metrics.throughput).toBeCloseTo(one.measured.ok / (one.measured.elapsedMs / 1000), 6);
    // A bare gate is judged once per level; the worst level is the headline metric.
    expect(report.gates.filter((g) => g.metric === 'p95_ms').map((g) => g.scope)).toEqual([
      'level:batch=1',
      'level:batch=16',
    ]);
    expect(report.metrics.p95_ms).toBe(Math.max(one.metrics.p95_ms, sixteen.metrics.p95_ms));
    expect(report.metrics.load_ms).toBeGreaterThan(0);
    expect(details.target).toMatchObject({
      kind: 'model',
      provider: { requested: 'cpu', used: 'cpu' },
      inputs: { from: 'data', rows: 5000 },
    });
    expect(details.environment).toMatchObject({ cores: expect.any(Number), provider: 'cpu' });
  });

  it('fails a gate the measurement breaks, and still writes every figure', async () => {
    const { outcome, report } = await run({
      model: example('model.onnx'),
      gates: 'p50_ms <= 0.000001',
    });
    expect(outcome.exitCode).toBe(1);
    expect(report.gates[0]).toMatchObject({ passed: false, scope: 'level:batch=1' });
    expect(report.metrics.p99_ms).toBeGreaterThan(0);
  });

  it('generates inputs from the model metadata, with dynamic dimensions set by dims', async () => {
    const model = resolve('test', 'fixtures', 'models', 'dynamic_seq.onnx');
    const ok = await run({ model, dims: 'sequence=32', 'batch-sizes': '2' });
    expect(ok.outcome.exitCode).toBe(0);
    expect(ok.details.target.inputs).toEqual({ from: 'generated', dims: { sequence: 32 } });
    const missing = await run({ model });
    expect(missing.outcome.exitCode).toBe(2);
    expect(missing.message).toMatch(
      /input "dims": .*"tokens" has a dynamic dimension "sequence".*dims: sequence=128/,
    );
    expect(missing.report.error?.message).toBe(missing.message);
  });

  it('measures a baseline model in alternating windows and gives ratios with intervals', async () => {
    const { outcome, report, details } = await run({
      model: example('model.onnx'),
      'baseline-model': example('baseline.onnx'),
      trials: '4',
      gates: 'p95_ms <= baseline * 100',
    });
    expect(outcome.exitCode).toBe(0);
    const [level] = details.levels;
    expect(level.baseline.histogram.count).toBeGreaterThan(0);
    expect(level.measured.windows.length).toBeGreaterThanOrEqual(4);
    for (const name of ['p50_ms', 'p95_ms', 'p99_ms']) {
      const r = level.comparison.ratios[name];
      expect(r.low).toBeLessThanOrEqual(r.estimate);
      expect(r.estimate).toBeLessThanOrEqual(r.high);
    }
    expect(level.comparison.kind).toBe('interleaved');
    expect(level.comparison.pValue).toBeGreaterThanOrEqual(0);
    const gate = report.gates[0];
    expect(gate.scope).toBe('level:batch=1');
    expect(gate.interval).toHaveLength(2);
    expect(details.regression).toBe(level.comparison.regression);
  });

  it('refuses cuda where it cannot run unless told to fall back, and says which provider ran', async () => {
    const refused = await run({ model: example('model.onnx'), 'execution-provider': 'cuda' });
    expect(refused.outcome.exitCode).toBe(2);
    expect(refused.message).toMatch(
      /input "execution-provider": execution provider cuda is not available: .*provider-fallback: cpu/,
    );
    const fell = await run({
      model: example('model.onnx'),
      'execution-provider': 'cuda',
      'provider-fallback': 'cpu',
    });
    expect(fell.outcome.exitCode).toBe(0);
    expect(fell.details.target.provider).toMatchObject({ requested: 'cuda', used: 'cpu' });
    expect(fell.report.warnings.join('\n')).toMatch(/measured on the CPU/);
  });

  it('compares with an earlier report: a Mann-Whitney test and a bootstrap interval per level', async () => {
    const first = await run({ model: example('model.onnx'), 'batch-sizes': '1,4' });
    const second = await run({
      model: example('model.onnx'),
      'batch-sizes': '1,8',
      'baseline-report': first.outcome.reportPath!,
    });
    const [one, eight] = second.details.levels;
    expect(one.comparison.kind).toBe('report');
    expect(one.baseline.histogram.count).toBe(first.details.levels[0].measured.histogram.count);
    // Level 8 has no counterpart in the earlier report: not compared, and said so.
    expect(eight.comparison).toBeUndefined();
    expect(second.logger.lines.map((l) => l.message).join('\n')).toMatch(/no level batch=8/);
    // The default gate with a baseline: judged with the interval where there is a counterpart, and failed
    // (closed) where there is none.
    expect(second.report.gates.map((g) => [g.expression, g.scope, g.passed, g.reason])).toEqual([
      ['p95_ms <= baseline * 1.10', 'level:batch=1', expect.any(Boolean), undefined],
      ['p95_ms <= baseline * 1.10', 'level:batch=8', false, expect.stringMatching(/baseline/)],
    ]);
    expect(second.report.gates[0].interval).toHaveLength(2);
    expect(second.outcome.exitCode).toBe(1);
  });

  it('refuses inputs it cannot use, before measuring', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /give model \(in-process\) or url/],
      [{ model: example('model.onnx'), url: 'http://127.0.0.1:1/' }, /not both/],
      [
        { model: example('model.onnx'), 'batch-sizes': '0' },
        /input "batch-sizes": expected whole numbers > 0/,
      ],
      [{ model: example('model.onnx'), 'min-duration': 'soon' }, /input "min-duration": expected a duration/],
      [{ model: example('model.onnx'), gates: 'p95 <= 3' }, /unknown metric|not a metric|p95_ms/],
      [
        { model: example('model.onnx'), 'baseline-report': example('test.csv') },
        /input "baseline-report".*not JSON/,
      ],
      [{ model: example('model.onnx'), data: example('test.csv') }, /takes 9 features per row, but 11/],
    ];
    for (const [inputs, message] of cases) {
      const r = await run(inputs);
      expect(r.outcome.exitCode, JSON.stringify(inputs)).toBe(2);
      expect(r.message).toMatch(message);
    }
  });
});
