import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/report/types.js';
import {
  details,
  EXAMPLES,
  expectMetricsClose,
  readCsv,
  runValidateModel,
  type ValidateModelRawInputs,
} from './support/validate-model.js';

// The demo of examples/: a candidate and a weaker baseline on 5,000 rows, sliced by region, where latam is
// deliberately tiny (46 rows).

const DATA = join(EXAMPLES, 'test.csv');
const LABEL = 'churned';
const SLICE = 'region';
const SMALL = 'latam';

const { header, rows } = await readCsv(DATA);
// region is not a feature of the demo models: it is only there to slice by.
const FEATURES = header.filter((c) => c !== SLICE && c !== LABEL).join(',');

const runExample = (extra: ValidateModelRawInputs = {}) =>
  runValidateModel({
    model: join(EXAMPLES, 'model.onnx'),
    data: DATA,
    'label-column': LABEL,
    'feature-columns': FEATURES,
    ...extra,
  });

/** Two-sided exact binomial p-value of min(b, c) out of b + c at 1/2, summed in log space (scipy's binomtest). */
function exactMcNemar(b: number, c: number): number {
  const n = b + c;
  const k = Math.min(b, c);
  if (2 * k >= n) return 1;
  let log = -n * Math.LN2; // log C(n, 0) / 2^n
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    tail += Math.exp(log);
    log += Math.log((n - i) / (i + 1));
  }
  return Math.min(1, 2 * tail);
}

const slicesOf = (report: Report) =>
  details(report).slices.results as {
    scope: string;
    value: string;
    rows: number;
    small: boolean;
    metrics: Record<string, number | null>;
    baseline?: Record<string, number | null>;
  }[];

describe('validate-model against a baseline', () => {
  let run: Awaited<ReturnType<typeof runExample>>;
  beforeAll(async () => {
    run = await runExample({
      'baseline-model': join(EXAMPLES, 'baseline.onnx'),
      gates: 'accuracy >= baseline\nf1_macro >= baseline + 0.5\nlog_loss <= baseline * 1.0',
      'bootstrap-resamples': '300',
    });
  });

  it('evaluates the baseline on the same rows', () => {
    const d = details(run.report);
    // The figures examples/generate.py prints for the two models (scikit-learn's accuracy_score).
    expect(run.report.metrics.accuracy).toBeCloseTo(0.8744, 12);
    expect(d.baseline.metrics.accuracy).toBeCloseTo(0.849, 12);
    expect(d.baselineModel.path).toBe(join(EXAMPLES, 'baseline.onnx'));
    expect(d.baselineModel.interpretation).toBe('label+probabilities');
  });

  it('reports McNemar on the rows where exactly one model is right', () => {
    const { b, c, pValue } = details(run.report).baseline.mcnemar;
    const rows = run.report.metrics.rows!;
    // b - c is the difference in correct rows, which the two accuracies fix.
    expect(b - c).toBe(
      Math.round((run.report.metrics.accuracy! - details(run.report).baseline.metrics.accuracy) * rows),
    );
    expect(b + c).toBeGreaterThan(b - c);
    expect(pValue).toBeCloseTo(exactMcNemar(b, c), 12);
  });

  it('reports a paired bootstrap interval around every delta', () => {
    const { intervals, metrics } = details(run.report).baseline;
    for (const name of ['accuracy', 'f1_macro', 'roc_auc', 'log_loss']) {
      const interval = intervals[name];
      expect(interval.delta, name).toBeCloseTo(run.report.metrics[name]! - metrics[name], 12);
      expect(interval.low, name).toBeLessThanOrEqual(interval.delta);
      expect(interval.high, name).toBeGreaterThanOrEqual(interval.delta);
      expect(interval.high, name).toBeGreaterThan(interval.low);
      expect(interval.resamples, name).toBe(300);
    }
  });

  it('judges baseline gates against the baseline', () => {
    const base = details(run.report).baseline.metrics;
    const m = run.report.metrics;
    expect(run.report.gates.map((g) => [g.expression, g.actual, g.threshold, g.passed])).toEqual([
      ['accuracy >= baseline', m.accuracy, base.accuracy, true],
      ['f1_macro >= baseline + 0.5', m.f1_macro, base.f1_macro + 0.5, false],
      ['log_loss <= baseline * 1.0', m.log_loss, base.log_loss, m.log_loss! <= base.log_loss],
    ]);
    expect(run.outcome.exitCode).toBe(1);
  });

  it('fails a baseline gate when no baseline model is given', async () => {
    const alone = await runExample({ gates: 'accuracy >= baseline - 0.5' });
    expect(alone.outcome.exitCode).toBe(1);
    expect(alone.report.passed).toBe(false);
    const [gate] = alone.report.gates;
    expect(gate).toMatchObject({ passed: false, actual: alone.report.metrics.accuracy, threshold: null });
    expect(gate.reason).toContain('no baseline');
    expect(details(alone.report).baseline).toBeUndefined();
  });
});

describe('validate-model per slice', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mlgate-vm-slices-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });
  const sliced = (extra: ValidateModelRawInputs = {}) =>
    runExample({ 'slice-columns': SLICE, 'min-slice-size': '50', ...extra });

  it('flags the slice under min-slice-size and gates only the others', async () => {
    const run = await sliced({ gates: 'slice.accuracy >= 0.99\naccuracy >= 0.5' });
    expect(run.outcome.exitCode).toBe(1);
    const slices = slicesOf(run.report);
    expect(slices.map((s) => [s.value, s.small])).toEqual([
      ['apac', false],
      ['emea', false],
      [SMALL, true],
      ['north_america', false],
    ]);
    expect(slices.find((s) => s.value === SMALL)!.rows).toBe(46);
    expect(slices.reduce((n, s) => n + s.rows, 0)).toBe(run.report.metrics.rows);
    expect(run.report.warnings.join('\n')).toContain(`${SLICE}=${SMALL}`);

    const eligible = slices.filter((s) => !s.small);
    const perSlice = run.report.gates.filter((g) => g.expression === 'slice.accuracy >= 0.99');
    expect(perSlice.map((g) => [g.scope, g.actual, g.passed])).toEqual(
      eligible.map((s) => [s.scope, s.metrics.accuracy, false]),
    );
    expect(run.report.gates.find((g) => g.scope === `slice:${SLICE}=${SMALL}`)).toBeUndefined();
    expect(run.report.gates.find((g) => g.scope === 'overall')?.passed).toBe(true);
  });

  it('does not gate the small slice: a gate only it would fail passes', async () => {
    const run = await sliced({ gates: 'slice.rows >= 50' });
    expect(run.outcome.exitCode, run.message).toBe(0);
    expect(run.report.gates).toHaveLength(3);
  });

  it('measures each slice as the subset of its rows on its own, for the model and the baseline', async () => {
    const baselineModel = join(EXAMPLES, 'baseline.onnx');
    const run = await sliced({
      'baseline-model': baselineModel,
      'bootstrap-resamples': '10',
      gates: 'slice.accuracy >= baseline - 0.05',
    });
    const region = header.indexOf(SLICE);
    // A slice gate on the baseline compares each slice with the same slice of the baseline.
    const eligible = slicesOf(run.report).filter((s) => !s.small);
    expect(run.report.gates.map((g) => [g.scope, g.actual, g.threshold])).toEqual(
      eligible.map((s) => [s.scope, s.metrics.accuracy, s.baseline!.accuracy! - 0.05]),
    );
    for (const slice of slicesOf(run.report)) {
      const path = join(tmp, `${slice.value}.csv`);
      const subset = rows.filter((r) => r[region] === slice.value);
      await writeFile(path, `${[header, ...subset].map((r) => r.join(',')).join('\n')}\n`);
      const direct = await runExample({
        data: path,
        'baseline-model': baselineModel,
        'bootstrap-resamples': '10',
      });
      expect(direct.outcome.exitCode, direct.message).toBe(0);
      // The subset runs in a batch of another size, which moves onnxruntime's float32 scores in the last bits.
      expectMetricsClose(slice.metrics, direct.report.metrics, { scoreTolerance: 1e-7 });
      expectMetricsClose(
        slice.baseline!,
        { ...details(direct.report).baseline.metrics, rows: subset.length },
        {
          scoreTolerance: 1e-7,
        },
      );
    }
  });
});
