import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateModel } from '../src/commands/validate-model.js';
import { buildReport, serializeReport } from '../src/report/json.js';
import type { Report } from '../src/report/types.js';
import { type CommandRun, runCommand } from './support/command.js';
import { type Schema, validate } from './support/json-schema.js';
import {
  expectedFixtures,
  expectMetricsClose,
  expectRefusal,
  fixture,
  readCsv,
} from './support/validate-model.js';

// A test set evaluated in shards, each by its own validate-model run, then merged from the shards' JSON
// reports: the merge must give the metrics, slices, baseline comparison and gates of one run over the whole
// file. Every run uses batch-size 1, so that a row's float32 scores do not depend on which rows share its
// inference call (onnxruntime's can move in the last bits with the batch): the rank metrics are then
// compared exactly, ties included.

const expected = await expectedFixtures();
const schema: Schema = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'docs', 'report.schema.json'), 'utf8'),
);
const tmp = mkdtempSync(join(tmpdir(), 'mlgate-merge-'));

const run = (inputs: Record<string, string>) =>
  runCommand(validateModel, { 'batch-size': '1', 'sufficient-statistics': 'true', ...inputs });

/**
 * Writes `source` whole and in shards (`shardOf` picks each row's shard; rows keep their order), with an
 * extra column to slice by. Returns the paths: [whole, ...shards].
 */
async function split(
  source: string,
  name: string,
  shards: number,
  shardOf: (row: string[], i: number) => number,
  slice?: { column: string; value: (i: number) => string },
): Promise<string[]> {
  const { header, rows } = await readCsv(source);
  const withSlice = (row: string[], i: number) => (slice ? [...row, slice.value(i)] : row);
  const head = slice ? [...header, slice.column] : header;
  const write = (path: string, body: string[][]) => {
    writeFileSync(path, `${[head, ...body].map((r) => r.join(',')).join('\n')}\n`);
    return path;
  };
  const all = rows.map(withSlice);
  return [
    write(join(tmp, `${name}.csv`), all),
    ...Array.from({ length: shards }, (_, s) =>
      write(
        join(tmp, `${name}-shard-${s}.csv`),
        all.filter((_, i) => shardOf(rows[i], i) === s),
      ),
    ),
  ];
}

/**
 * Runs every shard with the same inputs, its report written to `<name>-<shard>.json`. A shard's gates do
 * not decide anything (fail-on-gate: false, as in a workflow): the merge judges them on the whole.
 */
async function runShards(files: string[], name: string, inputs: Record<string, string>) {
  const runs = await Promise.all(
    files.map((data, s) =>
      run({ ...inputs, data, 'fail-on-gate': 'false', 'report-path': join(tmp, `${name}-${s}.json`) }),
    ),
  );
  for (const r of runs) expect(r.outcome.exitCode, r.message).toBe(0);
  return { runs, reports: runs.map((r) => r.outcome.reportPath!) };
}

type Slice = {
  scope: string;
  rows: number;
  small: boolean;
  metrics: Record<string, number | null>;
  baseline?: Record<string, number | null>;
};

/** The merge says what one run over the whole file says, to `tolerance` where sums are added in another order. */
function expectSameEvaluation(merged: CommandRun, whole: CommandRun, tolerance: { relative?: number } = {}) {
  const close = (a: Record<string, number | null>, b: Record<string, number | null>) =>
    expectMetricsClose(a, b, { scoreTolerance: 1e-12, ...tolerance });
  close(merged.report.metrics, whole.report.metrics);
  const [m, w] = [merged.details, whole.details];
  expect(m.data.rowsEvaluated).toBe(w.data.rowsEvaluated);
  expect(m.confusionMatrix).toEqual(w.confusionMatrix);
  expect(m.perClass).toEqual(w.perClass);
  if (w.baseline) {
    close(m.baseline.metrics, w.baseline.metrics);
    expect(m.baseline.confusionMatrix).toEqual(w.baseline.confusionMatrix);
    expect(m.baseline.mcnemar).toEqual(w.baseline.mcnemar);
  }
  const [ms, ws] = [m.slices?.results ?? [], w.slices?.results ?? []] as Slice[][];
  expect(ms.map((s) => [s.scope, s.rows, s.small])).toEqual(ws.map((s) => [s.scope, s.rows, s.small]));
  ms.forEach((s, i) => {
    close(s.metrics, ws[i].metrics);
    if (ws[i].baseline) close(s.baseline!, ws[i].baseline!);
  });
  expect(merged.report.gates.map((g) => [g.expression, g.scope, g.passed])).toEqual(
    whole.report.gates.map((g) => [g.expression, g.scope, g.passed]),
  );
  merged.report.gates.forEach((g, i) => {
    const want = whole.report.gates[i];
    for (const key of ['actual', 'threshold'] as const) {
      const limit = (tolerance.relative ?? 0) * Math.abs(want[key] ?? 0) || 1e-12;
      expect(Math.abs(g[key]! - want[key]!), `${g.expression} ${g.scope} ${key}`).toBeLessThanOrEqual(limit);
    }
  });
}

/** Rank statistics, which must merge to the very tie groups of the unsharded run. */
const rankingOf = (run: CommandRun, node = 'model') =>
  (run.details.sufficient[node].scores?.ranking ?? []).map((r: any) => ({ ...r }));

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('validate-model merges the reports of a sharded test set into the evaluation of the whole', () => {
  describe('iris in three shards, two of one class only: a tie-heavy forest against a baseline, sliced', () => {
    const model = fixture('models', 'rf_zipmap_int.onnx');
    const baseline = fixture('models', 'probs.onnx');
    const inputs = {
      model,
      'baseline-model': baseline,
      'label-column': 'species',
      'slice-columns': 'site',
      'min-slice-size': '45',
      'bootstrap-resamples': '10',
      gates: [
        'accuracy >= 0.9',
        'f1_macro >= baseline - 0.05',
        'roc_auc >= baseline',
        'log_loss <= 0.5',
        'slice.accuracy >= 0.95',
        'slice.pr_auc >= baseline - 0.01',
      ].join('\n'),
    };
    let whole: CommandRun;
    let shards: CommandRun[];
    let merged: CommandRun;
    let shardReports: string[];
    beforeAll(async () => {
      // Rows 0-49 are all setosa and 100-149 all virginica; the middle shard holds two classes.
      const [all, ...parts] = await split(
        fixture('data', 'iris.csv'),
        'iris',
        3,
        (_, i) => (i < 50 ? 0 : i < 110 ? 1 : 2),
        {
          column: 'site',
          value: (i) => ['north', 'south', 'east'][i % 3],
        },
      );
      whole = await run({ ...inputs, data: all });
      ({ runs: shards, reports: shardReports } = await runShards(parts, 'iris', inputs));
      merged = await run({
        'merge-reports': join(tmp, 'iris-*.json'),
        'label-column': 'species',
        'min-slice-size': inputs['min-slice-size'],
        gates: inputs.gates,
      });
    });

    it('has the metrics, per class, slices, baseline comparison and gate verdicts of one run over the whole file', () => {
      expect(merged.outcome.exitCode, merged.message).toBe(whole.outcome.exitCode);
      expectSameEvaluation(merged, whole);
      // Exact, not close: the ranks of the merge are the ranks of the whole.
      for (const name of ['roc_auc', 'pr_auc'])
        expect(merged.report.metrics[name], name).toBe(whole.report.metrics[name]);
      expect(rankingOf(merged)).toEqual(rankingOf(whole));
      expect(rankingOf(merged, 'baseline')).toEqual(rankingOf(whole, 'baseline'));
    });

    it('merges shards whose rank metrics are undefined on their own', () => {
      const setosa = shards[0];
      expect(
        setosa.details.sufficient.model.confusionMatrix.map((row: number[]) => row.reduce((a, b) => a + b)),
      ).toEqual([50, 0, 0]);
      expect(setosa.report.metrics.roc_auc).toBeNull();
      expect(merged.report.metrics.roc_auc).toBeGreaterThan(0.9);
    });

    it('keeps the forest\u2019s ties as run lengths: one entry per distinct score, not per row', () => {
      const probabilities = expected.models['rf_zipmap_int.onnx'].probabilities!;
      merged.details.sufficient.model.scores.ranking.forEach(
        (r: { class: string; scores: number[]; positives: number[]; negatives: number[] }, c: number) => {
          const distinct = new Set(probabilities.map((p) => Math.fround(p[c])));
          expect(r.class).toBe(String(c));
          expect(r.scores.length).toBe(distinct.size);
          expect(r.scores.length).toBeLessThan(150 / 4);
          expect(r.positives.reduce((a, b) => a + b) + r.negatives.reduce((a, b) => a + b)).toBe(150);
        },
      );
    });

    it('names the shards and their rows; recomputes McNemar from the added discordant counts', () => {
      expect(
        merged.details.merge.shards.map((s: { path: string; rows: number }) => [s.path, s.rows]),
      ).toEqual(shardReports.map((path, s) => [path, [50, 60, 40][s]]));
      expect(merged.details.data.files).toEqual(shards.flatMap((s) => s.details.data.files));
      const { b, c } = merged.details.sufficient.paired;
      expect([b, c]).toEqual(
        [0, 1].map((k) => shards.reduce((n, s) => n + s.details.sufficient.paired[['b', 'c'][k]], 0)),
      );
      expect(merged.details.baseline.mcnemar).toMatchObject({ b, c });
    });

    it('reports the bootstrap intervals as unavailable, with the reason, and says so in the summary', () => {
      expect(whole.details.baseline.intervals.accuracy).toBeDefined();
      expect(merged.details.baseline.intervals).toBeNull();
      expect(merged.details.baseline.intervalsUnavailable).toContain('merged shards carry sums, not rows');
      const markdown = merged.outcome.result!.markdown;
      expect(markdown).toContain('merged from 3 shards');
      expect(markdown).toContain('No confidence intervals');
    });

    it('writes reports that docs/report.schema.json accepts, the merged one mergeable again', async () => {
      for (const r of [whole, ...shards, merged]) expect(validate(r.report, schema)).toEqual([]);
      const broken = structuredClone(merged.report) as Report & { details: Record<string, any> };
      broken.details.sufficient.model.confusionMatrix[0][0] = -1;
      delete broken.details.sufficient.slices[0].model.rows;
      expect(validate(broken, schema)).toEqual([
        '/details/sufficient/model: matches 0 of the oneOf schemas, expected exactly 1',
        '/details/sufficient/slices/0/model: matches 0 of the oneOf schemas, expected exactly 1',
      ]);
      // A merge of a merge and a shard is the merge of all shards: the merged report carries the statistics too.
      const firstTwo = await run({
        'merge-reports': `${shardReports[0]}\n${shardReports[1]}`,
        'label-column': 'species',
        'report-path': join(tmp, 'iris-merged-0-1.out'),
      });
      const again = await run({
        'merge-reports': `${firstTwo.outcome.reportPath}, ${shardReports[2]}`,
        'label-column': 'species',
        'min-slice-size': inputs['min-slice-size'],
        gates: inputs.gates,
      });
      expect(again.outcome.exitCode, again.message).toBe(merged.outcome.exitCode);
      expectSameEvaluation(again, merged);
      expect(again.details.sufficient).toEqual(merged.details.sufficient);
    });
  });

  it('a binary model whose first shard holds a single class, so its own roc_auc is undefined', async () => {
    const m = expected.models['binary_sigmoid.onnx'];
    // A shard with one class would read its class list off its own data: class-labels fixes it for all.
    const inputs = {
      model: fixture('models', 'binary_sigmoid.onnx'),
      'label-column': m.labelColumn,
      'class-labels': '0,1',
      gates: 'roc_auc >= 0.95\nrecall >= 0.9',
    };
    const [all, ...parts] = await split(fixture(m.data), 'cancer', 2, (row, i) =>
      row.at(-1) === '0' && i % 2 === 0 ? 0 : 1,
    );
    const whole = await run({ ...inputs, data: all });
    const { runs, reports } = await runShards(parts, 'cancer', inputs);
    expect(runs[0].report.metrics.roc_auc).toBeNull();
    const merged = await run({
      'merge-reports': reports.join('\n'),
      'label-column': m.labelColumn,
      gates: inputs.gates,
    });
    expect(merged.outcome.exitCode, merged.message).toBe(whole.outcome.exitCode);
    expectSameEvaluation(merged, whole);
    expect(merged.report.metrics.roc_auc).toBe(whole.report.metrics.roc_auc);
    expect(merged.details.positiveLabel).toBe('1');
  });

  describe('regression in two shards, against a baseline, with an empty slice value', () => {
    const m = expected.models['regressor.onnx'];
    const inputs = {
      model: fixture('models', 'regressor.onnx'),
      'baseline-model': fixture('models', 'rf_regressor.onnx'),
      'label-column': m.labelColumn,
      'slice-columns': 'cohort',
      'min-slice-size': '50',
      'bootstrap-resamples': '10',
      gates: 'r2 >= baseline - 0.2\nrmse <= 60\nslice.mae <= baseline * 1.2\nslice.max_error <= 200',
    };
    let whole: CommandRun;
    let merged: CommandRun;
    let reports: string[];
    beforeAll(async () => {
      const [all, ...parts] = await split(fixture(m.data), 'diabetes', 2, (_, i) => (i % 7 < 3 ? 0 : 1), {
        column: 'cohort',
        value: (i) => (i % 5 === 0 ? '' : ['b', 'a'][i % 2]),
      });
      whole = await run({ ...inputs, data: all });
      ({ reports } = await runShards(parts, 'diabetes', inputs));
      merged = await run({
        'merge-reports': join(tmp, 'diabetes-*.json'),
        'label-column': m.labelColumn,
        'slice-columns': 'cohort',
        'min-slice-size': inputs['min-slice-size'],
        gates: inputs.gates,
      });
    });

    it('has the metrics and slices of one run, to 1e-12 of their size (sums added in another order)', () => {
      expect(merged.outcome.exitCode, merged.message).toBe(whole.outcome.exitCode);
      expectSameEvaluation(merged, whole, { relative: 1e-12 });
      expect(merged.details.slices.results.map((s: Slice) => s.scope)).toEqual([
        'slice:cohort=a',
        'slice:cohort=b',
        'slice:cohort=(empty)',
      ]);
      expect(merged.report.metrics.max_error).toBe(whole.report.metrics.max_error);
    });

    it('fails closed on a metric the shards report but their statistics cannot give back', async () => {
      // A shard from an mlgate with a median_absolute_error, which no sum over rows gives: the merge has its
      // name from the shards but no value, and its gates must fail saying why, never pass or vanish.
      const withMedian = reports.map((path, s) => {
        const report = JSON.parse(readFileSync(path, 'utf8'));
        report.metrics.median_absolute_error = 40 + s;
        for (const slice of report.details.slices.results) slice.metrics.median_absolute_error = 41;
        const out = join(tmp, `median-${s}.json`);
        writeFileSync(out, JSON.stringify(report));
        return out;
      });
      const run2 = await run({
        'merge-reports': withMedian.join('\n'),
        'label-column': m.labelColumn,
        gates: 'median_absolute_error <= 100\nslice.median_absolute_error <= 100\nr2 >= 0',
      });
      expect(run2.outcome.exitCode, run2.message).toBe(1);
      const [overall, ...rest] = run2.report.gates;
      expect(overall).toMatchObject({ passed: false, actual: null, scope: 'overall' });
      expect(overall.reason).toContain(
        'could not be computed: the shards report it, but it is not a sum over rows',
      );
      const perSlice = rest.filter((g) => g.metric === 'median_absolute_error');
      expect(perSlice.length).toBeGreaterThan(0);
      for (const g of perSlice) expect(g).toMatchObject({ passed: false, actual: null });
      expect(rest.find((g) => g.metric === 'r2')?.passed).toBe(true);
      expect(run2.report.metrics.median_absolute_error).toBeNull();
      expect(Object.keys(run2.details.merge.unavailable)).toEqual(['median_absolute_error']);
      expect(run2.report.warnings.join('\n')).toContain('median_absolute_error: the shards report it');
    });
  });
});

describe('validate-model refuses merge inputs that are not shards of one evaluation (exit code 2)', () => {
  const iris = fixture('models', 'rf_zipmap_int.onnx');
  let good: string[];
  beforeAll(async () => {
    const parts = (await split(fixture('data', 'iris.csv'), 'refusals', 2, (_, i) => i % 2)).slice(1);
    good = (await runShards(parts, 'refusals', { model: iris, 'label-column': 'species' })).reports;
  });
  const merge = (reports: string[], extra: Record<string, string> = {}) =>
    run({ 'merge-reports': reports.join('\n'), 'label-column': 'species', ...extra });
  const edited = (name: string, edit: (report: any) => void) => {
    const report = JSON.parse(readFileSync(good[1], 'utf8'));
    edit(report);
    const path = join(tmp, name);
    writeFileSync(path, JSON.stringify(report));
    return path;
  };

  it('shards evaluated with other class labels', async () => {
    const m = expected.models['binary_sigmoid.onnx'];
    const data = fixture(m.data);
    const base = { model: fixture('models', 'binary_sigmoid.onnx'), data, 'label-column': m.labelColumn };
    const a = await run({ ...base, 'class-labels': '0,1', 'report-path': join(tmp, 'labels-a.json') });
    const b = await run({ ...base, 'class-labels': '1,0', 'report-path': join(tmp, 'labels-b.json') });
    const refused = await run({
      'merge-reports': `${a.outcome.reportPath}\n${b.outcome.reportPath}`,
      'label-column': m.labelColumn,
    });
    expectRefusal(
      refused,
      'input "merge-reports"',
      "the model's class labels differ",
      '[1, 0] against [0, 1]',
      'class-labels',
    );
  });

  it('shards of another model file with the same inputs and outputs (told apart by its sha256)', async () => {
    const path = edited('retrained.json', (r) => {
      expect(r.details.model.sha256).toMatch(/^[0-9a-f]{64}$/);
      r.details.model.sha256 = 'f'.repeat(64);
    });
    expectRefusal(
      await merge([good[0], path]),
      path,
      'they evaluated different models',
      'merge the shards of one model',
    );
  });

  it('a report of another command', async () => {
    const path = join(tmp, 'validate-data.json');
    writeFileSync(path, serializeReport(buildReport({ command: 'validate-data', gates: [] })));
    expectRefusal(await merge([good[0], path]), path, 'is not a validate-model report', 'report-path');
  });

  it('a report without details.sufficient: a shard run without sufficient-statistics, the default', async () => {
    const plain = await runCommand(validateModel, {
      model: iris,
      data: fixture('data', 'iris.csv'),
      'label-column': 'species',
      'report-path': join(tmp, 'plain.json'),
    });
    expect(plain.details).not.toHaveProperty('sufficient');
    const path = join(tmp, 'plain.json');
    expectRefusal(
      await merge([good[0], path]),
      path,
      'has no details.sufficient',
      'sufficient-statistics: true',
    );
  });

  it('malformed statistics, naming the field', async () => {
    const path = edited('malformed.json', (r) => {
      r.details.sufficient.model.confusionMatrix[1] = [1, 2];
    });
    expectRefusal(
      await merge([good[0], path]),
      path,
      'details.sufficient.model.confusionMatrix[1]',
      'expected 3 entries',
    );
  });

  it('a shard that could not run', async () => {
    const path = edited('failed.json', (r) => {
      r.error = { message: 'input "data": file not found: shard-9.csv' };
    });
    expectRefusal(await merge([good[0], path]), path, 'could not run', 'shard-9.csv');
  });

  it('a file that is not JSON', async () => {
    const path = join(tmp, 'notes.json');
    writeFileSync(path, 'shard 1 ok\n');
    expectRefusal(await merge([path]), path, 'is not JSON');
  });

  it('a pattern that matches no file', async () => {
    expectRefusal(await merge([join(tmp, 'nowhere', '*.json')]), 'input "merge-reports"', 'matches no file');
  });

  it('the same shard twice, under two names', async () => {
    const copy = join(tmp, 'refusals-copy.json');
    copyFileSync(good[0], copy);
    expectRefusal(await merge([...good, copy]), 'same shard report', 'give each shard once');
  });

  it('another label column, a baseline in one shard only', async () => {
    expectRefusal(await merge(good, { 'label-column': 'kind' }), 'input "label-column"', '"species"');
    const path = edited('with-baseline.json', (r) => {
      r.details.sufficient.baseline = r.details.sufficient.model;
    });
    expectRefusal(
      await merge([good[0], path]),
      'one has a baseline model and the other not',
      'baseline-model',
    );
  });

  it('neither a model and data nor merge-reports; or both', async () => {
    expectRefusal(await run({ 'label-column': 'species' }), 'input "model"', 'merge-reports');
    expectRefusal(await run({ model: iris, 'label-column': 'species' }), 'input "data"', 'merge-reports');
    expectRefusal(await merge(good, { model: iris }), 'input "model"', 'not used with merge-reports');
  });
});
