import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  details,
  expectedFixtures,
  expectMetricsClose,
  expectRefusal,
  fixture,
  readCsv,
  runValidateModel,
  type ValidateModelRawInputs,
} from './support/validate-model.js';

// Bad models, bad data and bad gates: each must be refused with exit code 2 and one message that names the
// file and the place, never a stack trace; odd-but-valid data must give the metrics of the clean file.

const expected = await expectedFixtures();
const bad = expected.badData;
const IRIS = fixture(bad.goodFile);
const IRIS_MODEL = fixture('models', bad.model);

/** The iris model on a data file; `extra` overrides or adds inputs. */
const runIris = (data: string, extra: ValidateModelRawInputs = {}) =>
  runValidateModel({ model: IRIS_MODEL, data, 'label-column': bad.labelColumn, ...extra });

let tmp: string;
let irisMetrics: Record<string, number | null>;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mlgate-vm-inputs-'));
  const clean = await runIris(IRIS);
  expect(clean.outcome.exitCode, clean.message).toBe(0);
  irisMetrics = clean.report.metrics;
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('validate-model refuses a bad model', () => {
  it('names a model file that does not exist', async () => {
    const missing = fixture('models', 'no_such_model.onnx');
    expectRefusal(await runIris(IRIS, { model: missing }), 'input "model"', missing, 'file not found');
  });

  it('names a file that is not ONNX', async () => {
    const path = fixture('models', 'not_onnx.onnx');
    expectRefusal(await runIris(IRIS, { model: path }), path, 'not an ONNX model');
  });

  it('names the width mismatch between the model input and the feature columns', async () => {
    const run = await runIris(IRIS, { 'feature-columns': 'sepal_length, sepal_width, petal_length' });
    expectRefusal(run, 'input "model"', 'takes 4 features per row, but 3 feature columns');
  });

  it('names the custom operator domain', async () => {
    const { domain } = expected.invalid['custom_domain.onnx'];
    expectRefusal(await runIris(IRIS, { model: fixture('models', 'custom_domain.onnx') }), `"${domain}"`);
  });

  it.each(['external_escape.onnx', 'external_abs.onnx'])(
    'refuses %s, naming where its data lives',
    async (name) => {
      const { location } = expected.invalid[name];
      const run = await runIris(IRIS, { model: fixture('models', name) });
      expectRefusal(run, fixture('models', name), `"${location}"`, 'outside the model');
    },
  );

  it('loads a model whose external data sits beside it', async () => {
    const { weight } = expected.externalOk;
    const x = [
      [1, 1],
      [2, 0.5],
      [4, -1],
      [-3, 2],
    ];
    // Targets off the model's output by known amounts, so the metrics prove the weights were read.
    const offsets = [0.5, -1, 0, 2];
    const y = x.map(([a, b], i) => a * weight[0] + b * weight[1] + offsets[i]);
    const data = join(tmp, 'external.csv');
    await writeFile(data, `a,b,y\n${x.map((r, i) => `${r.join(',')},${y[i]}`).join('\n')}\n`);
    const run = await runValidateModel({
      model: fixture('models', expected.externalOk.model),
      data,
      'label-column': 'y',
    });
    expect(run.outcome.exitCode, run.message).toBe(0);
    expect(details(run.report).task).toBe('regression');
    expect(run.report.metrics.mae).toBeCloseTo(3.5 / 4, 6);
    expect(run.report.metrics.max_error).toBeCloseTo(2, 6);
  });
});

describe('validate-model refuses bad data, naming the file and the place', () => {
  it('a data file that does not exist', async () => {
    const missing = fixture('data', 'no_such_file.csv');
    expectRefusal(await runIris(missing), 'input "data"', 'file not found', 'no_such_file.csv');
  });

  it('a label column that is not in the file', async () => {
    expectRefusal(await runIris(IRIS, { 'label-column': 'kind' }), 'input "label-column"', '"kind"', IRIS);
  });

  it('a per-column model whose column is missing', async () => {
    const m = expected.models['per_column.onnx'];
    const { header, rows } = await readCsv(fixture(m.data));
    const drop = header.indexOf('plan');
    const data = join(tmp, 'no_plan.csv');
    const keep = (r: string[]) => r.filter((_, i) => i !== drop).join(',');
    await writeFile(data, `${[header, ...rows].map(keep).join('\n')}\n`);
    const run = await runValidateModel({
      model: fixture('models', 'per_column.onnx'),
      data,
      'label-column': m.labelColumn,
    });
    expectRefusal(run, 'input "model"', data, 'no column "plan"');
  });

  it('a value that is not a number', async () => {
    const { line, column, value } = bad['non_numeric.csv'];
    const path = fixture('data', 'non_numeric.csv');
    expectRefusal(await runIris(path), `${path}, line ${line}`, `"${column}"`, `"${value}"`);
  });

  it('an empty or NaN cell, under missing-values: error', async () => {
    const [first] = bad['nan_cells.csv'].cells;
    const path = fixture('data', 'nan_cells.csv');
    expectRefusal(await runIris(path), `${path}, line ${first.line}`, `"${first.column}"`, 'skip-row');
  });

  it('an empty file', async () => {
    const path = fixture('data', 'empty.csv');
    expectRefusal(await runIris(path), path, 'empty');
  });

  it('a header without rows', async () => {
    const path = fixture('data', 'header_only.csv');
    expectRefusal(await runIris(path), path, 'no data rows');
  });

  it('a row with more fields than the header', async () => {
    const { line, expectedFields, actualFields } = bad['ragged.csv'];
    const path = fixture('data', 'ragged.csv');
    expectRefusal(
      await runIris(path),
      `${path}, line ${line}`,
      `${actualFields} fields`,
      `${expectedFields}`,
    );
  });
});

describe('validate-model reads every form of the same data alike', () => {
  it('skips rows with empty or NaN cells under skip-row and counts them', async () => {
    const { cells } = bad['nan_cells.csv'];
    const path = fixture('data', 'nan_cells.csv');
    const run = await runIris(path, { 'missing-values': 'skip-row', 'batch-size': '16' });
    expect(run.outcome.exitCode, run.message).toBe(0);
    const data = details(run.report).data;
    expect(data.rowsSkipped).toBe(cells.length);
    expect(data.rowsRead).toBe(150);
    expect(data.rowsEvaluated).toBe(150 - cells.length);
    const byColumn: Record<string, number> = {};
    for (const c of cells) byColumn[c.column] = (byColumn[c.column] ?? 0) + 1;
    expect(data.skippedByColumn).toEqual(byColumn);

    // The other rows are iris's own: the metrics must be those of iris without the skipped rows.
    const { header, rows } = await readCsv(IRIS);
    const skipped = new Set(cells.map((c: { row: number }) => c.row));
    const subset = join(tmp, 'iris_without_nan_rows.csv');
    await writeFile(
      subset,
      `${[header, ...rows.filter((_, i) => !skipped.has(i))].map((r) => r.join(',')).join('\n')}\n`,
    );
    const direct = await runIris(subset);
    expectMetricsClose(run.report.metrics, direct.report.metrics, { scoreTolerance: 1e-7 });
  });

  it.each([
    ['a UTF-8 BOM and CRLF line ends', 'bom_crlf.csv'],
    ['gzip', 'iris.csv.gz'],
    ['a glob over parts', bad.parts.glob.slice('data/'.length)],
  ])('%s', async (_, name) => {
    const run = await runIris(fixture('data', name));
    expect(run.outcome.exitCode, run.message).toBe(0);
    expect(run.report.metrics).toEqual(irisMetrics);
  });

  it('reads every part of a glob, in order', async () => {
    const run = await runIris(fixture(bad.parts.glob));
    expect(details(run.report).data.files).toEqual(bad.parts.files.map((f: string) => fixture(f)));
  });

  it('Parquet', async () => {
    const parquet = join(tmp, 'iris.parquet');
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    await conn.run(`COPY (SELECT * FROM read_csv('${IRIS}')) TO '${parquet}' (FORMAT parquet)`);
    conn.closeSync();
    instance.closeSync();
    const run = await runIris(parquet);
    expect(run.outcome.exitCode, run.message).toBe(0);
    expect(run.report.metrics).toEqual(irisMetrics);
  });

  it('warns about labels the model does not know and leaves score-based metrics out', async () => {
    const { value } = bad['unknown_label.csv'];
    const run = await runIris(fixture('data', 'unknown_label.csv'));
    expect(run.outcome.exitCode, run.message).toBe(0);
    const warning = run.report.warnings.find((w) => w.includes('does not know'));
    expect(warning).toContain(`: ${value} (1 rows)`);
    for (const metric of ['roc_auc', 'pr_auc', 'log_loss'])
      expect(run.report.metrics[metric], metric).toBeNull();
    // The row still counts, as an error: one more mistake than on the clean file.
    expect(run.report.metrics.accuracy).toBeCloseTo(irisMetrics.accuracy! - 1 / 150, 12);
  });
});

describe('validate-model gates', () => {
  it('refuses an unknown metric, listing the known ones', async () => {
    const run = await runIris(IRIS, { gates: 'accuracy >= 0.9\nf1_macr >= 0.9' });
    expectRefusal(run, 'gates, line 2', '`f1_macr`', 'Did you mean `f1_macro`', 'Known metrics:', 'roc_auc');
  });

  it('fails with exit code 1 and still writes the report', async () => {
    const run = await runIris(IRIS, { gates: 'accuracy >= 0.5\naccuracy >= 0.999' });
    expect(run.outcome.exitCode).toBe(1);
    expect(run.report.passed).toBe(false);
    expect(run.report.gates.map((g) => [g.expression, g.actual, g.threshold, g.passed])).toEqual([
      ['accuracy >= 0.5', irisMetrics.accuracy, 0.5, true],
      ['accuracy >= 0.999', irisMetrics.accuracy, 0.999, false],
    ]);
  });

  it('exits 0 with passed false when fail-on-gate is false', async () => {
    const run = await runIris(IRIS, { gates: 'accuracy >= 0.999', 'fail-on-gate': 'false' });
    expect(run.outcome.exitCode).toBe(0);
    expect(run.report.passed).toBe(false);
  });
});
