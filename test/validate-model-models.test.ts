import { describe, expect, it } from 'vitest';
import { classificationMetrics, regressionMetrics } from '../src/metrics/index.js';
import {
  details,
  type ExpectedModel,
  expectedFixtures,
  expectMetricsClose,
  fixture,
  readCsv,
  runValidateModel,
} from './support/validate-model.js';

// Every model of expected.json through the real command: its metrics must be the metrics of scikit-learn's own
// predictions, so a misread output (wrong column order, softmax twice, a lost ZipMap) shows up as a number.

const expected = await expectedFixtures();

/** What the command must make of each fixture style's outputs. */
const INTERPRETATION: Record<string, string> = {
  zipmap: 'label+probabilities',
  tensor: 'label+probabilities',
  'per-column': 'label+probabilities',
  logits: 'logits (softmax applied)',
  probabilities: 'probabilities',
  sigmoid: 'binary probability',
  regression: 'regression',
};

async function referenceMetrics(
  m: ExpectedModel,
  positiveLabel?: string,
): Promise<Record<string, number | null>> {
  const { header, rows } = await readCsv(fixture(m.data));
  const label = header.indexOf(m.labelColumn);
  if (m.task === 'regression') {
    const yTrue = Float64Array.from(rows, (r) => Number(r[label]));
    return { ...regressionMetrics(yTrue, Float64Array.from(m.predictions!)).metrics, rows: rows.length };
  }
  const classes = m.classes!.map(String);
  const id = (value: string | number) => {
    const k = classes.indexOf(String(value));
    if (k < 0) throw new Error(`label ${value} is not one of the classes ${classes}`);
    return k;
  };
  const result = classificationMetrics({
    classes,
    yTrue: Int32Array.from(rows, (r) => id(r[label])),
    yPred: Int32Array.from(m.labels!, id),
    proba: Float64Array.from(m.probabilities!.flat()),
    positiveIndex: positiveLabel === undefined ? undefined : id(positiveLabel),
  });
  return { ...result.metrics, rows: rows.length };
}

describe('validate-model matches scikit-learn on every model style', () => {
  // A batch of 7 rows splits every file into many inference calls, the last one short.
  const cases = Object.entries(expected.models).flatMap(([name, m]) =>
    ['auto', '7'].map((batch) => [name, batch, m] as const),
  );
  it.each(cases)('%s, batch-size %s', async (name, batch, m) => {
    const run = await runValidateModel({
      model: fixture('models', name),
      data: fixture(m.data),
      'label-column': m.labelColumn,
      'batch-size': batch,
    });
    expect(run.outcome.exitCode, run.message).toBe(0);
    const d = details(run.report);
    expect(d.task).toBe(m.task);
    expect(d.model.interpretation).toBe(INTERPRETATION[m.style]);
    expect(d.model.feeds.flatMap((f: { columns: string[] }) => f.columns)).toEqual(m.featureColumns);

    expectMetricsClose(run.report.metrics, await referenceMetrics(m), {
      scoreTolerance: expected.tolerance.probability,
      relative: m.task === 'regression' ? expected.tolerance.regressionRelative : undefined,
    });
  });
});

// positive-label says which class binary metrics are about; what the model predicts must not change with it.
describe('validate-model with positive-label set to the first class', () => {
  it.each([
    ['binary_sigmoid.onnx', '0'],
    ['rf_zipmap_str.onnx', 'benign'],
  ])('%s, positive %s', async (name, positive) => {
    const m = expected.models[name];
    const run = await runValidateModel({
      model: fixture('models', name),
      data: fixture(m.data),
      'label-column': m.labelColumn,
      'positive-label': positive,
    });
    expect(run.outcome.exitCode, run.message).toBe(0);
    expect(details(run.report).positiveLabel).toBe(positive);
    expectMetricsClose(run.report.metrics, await referenceMetrics(m, positive), {
      scoreTolerance: expected.tolerance.probability,
    });
  });
});
