import { type Batch, Batcher } from '../data/batcher.js';
import { type Chunk, type ColumnRead, Engine } from '../data/engine.js';
import { type DataFile, expandDataInput } from '../data/files.js';
import { ConfigurationError } from '../errors.js';
import { assertKnownMetrics, evaluateGates, type Gate, loadGates } from '../gates/index.js';
import type { Logger } from '../logging.js';
import {
  BINARY_METRICS,
  type ClassificationInput,
  classificationMetrics,
  compareClassification,
  compareRegression,
  LABEL_METRICS,
  mcnemar,
  PER_CLASS_METRICS,
  REGRESSION_METRICS,
  regressionMetrics,
  SCORE_METRICS,
} from '../metrics/index.js';
import { type InputFeed, planFeeds, readsFor } from '../model/feed.js';
import { type LoadedModel, loadModel } from '../model/load.js';
import { ClassSpace, Growable, Predictor } from '../model/predict.js';
import { loadOnnxRuntime, nativeEnginesInfo } from '../native/index.js';
import { buildReport } from '../report/json.js';
import type { Command, CommandResult } from '../runtime/command.js';
import { input, type RawInputs } from '../runtime/inputs.js';
import { renderValidateModel } from './validate-model-summary.js';

export interface ValidateModelInputs {
  model: string;
  data: string[];
  labelColumn: string;
  task: 'auto' | 'classification' | 'regression';
  featureColumns?: string[];
  classLabels?: string[];
  positiveLabel?: string;
  gates: string;
  gatesFile?: string;
  baselineModel?: string;
  sliceColumns: string[];
  minSliceSize: number;
  missingValues: 'error' | 'skip-row';
  /** undefined = auto. */
  batchSize?: number;
  threads: number;
  /** undefined = auto: the metrics module scales it to the test set's size. */
  bootstrapResamples?: number;
}

/** Rows per inference call when batch-size is auto: big enough to keep onnxruntime's threads busy, small in memory. */
const AUTO_BATCH_ROWS = 16_384;

/** The metric names reported as step outputs of their own. */
const HEADLINE_OUTPUTS = ['accuracy', 'f1_macro', 'roc_auc', 'log_loss', 'r2', 'rmse', 'mae'];

export function readValidateModelInputs(raw: RawInputs): ValidateModelInputs {
  const list = (name: string) => {
    const items = input.list(raw, name);
    return items.length > 0 ? items : undefined;
  };
  return {
    model: input.required(raw, 'model', 'the path of the .onnx model to validate'),
    data: input.list(raw, 'data'),
    labelColumn: input.required(raw, 'label-column', 'the name of the column holding the true label'),
    task: input.choice(raw, 'task', ['auto', 'classification', 'regression'] as const),
    featureColumns: list('feature-columns'),
    classLabels: list('class-labels'),
    positiveLabel: input.optional(raw, 'positive-label'),
    gates: input.lines(raw, 'gates'),
    gatesFile: input.optional(raw, 'gates-file'),
    baselineModel: input.optional(raw, 'baseline-model'),
    sliceColumns: input.list(raw, 'slice-columns'),
    minSliceSize: input.int(raw, 'min-slice-size', 1),
    missingValues: input.choice(raw, 'missing-values', ['error', 'skip-row'] as const),
    batchSize: input.intOrAuto(raw, 'batch-size', 1),
    threads: input.int(raw, 'threads', 0),
    bootstrapResamples: input.intOrAuto(raw, 'bootstrap-resamples', 1),
  };
}

export const validateModel: Command<ValidateModelInputs> = {
  name: 'validate-model',
  title: 'Model validation',
  readInputs: readValidateModelInputs,
  async run(inputs, logger) {
    // Gates are parsed before any data is read: a typo should cost seconds, not a full evaluation.
    const gates = loadGates(inputs.gates, inputs.gatesFile);
    const engine = await Engine.open(logger);
    try {
      return await evaluate(inputs, gates, engine, logger);
    } finally {
      engine.close();
    }
  },
};

async function evaluate(
  inputs: ValidateModelInputs,
  gates: Gate[],
  engine: Engine,
  logger: Logger,
): Promise<CommandResult> {
  const started = performance.now();
  const warnings: string[] = [];
  const files = await expandDataInput(inputs.data, engine);
  const header = await engine.sharedColumns(files);
  for (const [column, name] of [
    [inputs.labelColumn, 'label-column'],
    ...inputs.sliceColumns.map((c) => [c, 'slice-columns']),
  ]) {
    if (!header.includes(column)) {
      throw new ConfigurationError(
        `column "${column}" is not in ${files[0].path} (columns: ${header.join(', ')})`,
        `input "${name}"`,
      );
    }
  }

  const threads = inputs.threads || undefined;
  const candidate = await loadModel(inputs.model, 'model', logger, { threads });
  const baseline = inputs.baselineModel
    ? await loadModel(inputs.baselineModel, 'baseline-model', logger, { threads })
    : undefined;
  const exclude = [inputs.labelColumn, ...inputs.sliceColumns];
  const feedOptions = (m: LoadedModel) => ({
    featureColumns: inputs.featureColumns,
    exclude,
    modelInput: m.input,
    file: files[0].path,
  });
  const candidateFeeds = planFeeds(candidate.info, header, feedOptions(candidate));
  const baselineFeeds = baseline ? planFeeds(baseline.info, header, feedOptions(baseline)) : [];

  const task = await resolveTask(inputs, candidate, files, header, engine);
  const space =
    task === 'classification' ? await classSpace(inputs, candidate, files, header, engine) : undefined;
  const positiveId = space ? positiveClass(inputs, space) : undefined;
  const slices = await sliceValues(inputs.sliceColumns, files, header, engine);
  assertKnownMetrics(gates, knownMetrics(task, space));

  // One pass over the data: the label, the slice columns and every feature either model needs.
  const featureReads = readsFor([...candidateFeeds, ...baselineFeeds]);
  const labelRead: ColumnRead = space
    ? { name: inputs.labelColumn, as: 'code', values: space.classes.slice() }
    : { name: inputs.labelColumn, as: 'float64' };
  const sliceReads: ColumnRead[] = slices.map((s) => ({ name: s.column, as: 'code', values: s.values }));
  const reads = [labelRead, ...sliceReads, ...featureReads];
  const columnIndex = (feed: InputFeed, column: string) =>
    reads.findIndex((r) => r.name === column && r.as === feed.as && r !== labelRead);

  const ort = await loadOnnxRuntime(logger);
  const predictorOptions = { task, space };
  const predictors = [new Predictor(candidate, candidateFeeds, columnIndex, ort, predictorOptions)];
  if (baseline) predictors.push(new Predictor(baseline, baselineFeeds, columnIndex, ort, predictorOptions));

  const yTrue = space ? new Growable((n) => new Int32Array(n)) : new Growable((n) => new Float64Array(n));
  const sliceCodes = slices.map(() => new Growable((n) => new Int32Array(n)));
  const skipped = { rows: 0, byColumn: {} as Record<string, number> };
  const batchSize = inputs.batchSize ?? AUTO_BATCH_ROWS;
  const batcher = new Batcher(reads, batchSize);
  let rowsRead = 0;

  const runBatch = async (batch: Batch) => {
    (yTrue as Growable<Int32Array | Float64Array>).push(batch.columns[0] as Int32Array | Float64Array);
    sliceCodes.forEach((g, s) => {
      g.push(batch.columns[1 + s] as Int32Array);
    });
    for (const p of predictors) await p.run(batch);
  };

  const predictStarted = performance.now();
  await logger.group(
    `Running ${predictors.length === 2 ? 'the model and the baseline' : 'the model'} over ${files.length} file(s)`,
    async () => {
      for (const file of files) {
        let fileRows = 0;
        for await (const chunk of engine.stream(file, header, reads)) {
          const keep = missingCells(chunk, reads, file, inputs.missingValues, skipped, space);
          await batcher.add(chunk, keep, runBatch);
          fileRows += chunk.rows;
          rowsRead += chunk.rows;
          logger.progress('rows', rowsRead);
        }
        if (fileRows === 0) {
          throw new ConfigurationError('the file has a header but no data rows', file.path);
        }
        logger.info(`${file.path}: ${fileRows.toLocaleString('en-US')} rows`);
      }
      await batcher.flush(runBatch);
    },
  );
  const rows = yTrue.length;
  if (rows === 0) {
    throw new ConfigurationError(
      `every one of the ${rowsRead} rows has an empty or NaN cell; nothing left to evaluate`,
      'input "data"',
    );
  }
  if (skipped.rows > 0)
    warnings.push(
      `${skipped.rows} of ${rowsRead} rows skipped for empty or NaN cells (missing-values: skip-row)`,
    );
  const metricsStarted = performance.now();
  const evaluation = space
    ? evaluateClassification(predictors, yTrue.view() as Int32Array, space, positiveId!, inputs)
    : evaluateRegression(predictors, yTrue.view() as Float64Array, inputs);
  const sliceResults = slicesOf(
    slices,
    sliceCodes,
    evaluation.metricsOf,
    inputs.minSliceSize,
    predictors.length === 2,
  );

  const results = evaluateGates(gates, {
    metrics: evaluation.metrics,
    baseline: evaluation.baselineMetrics,
    slices: sliceResults.map((s) => ({
      scope: s.scope,
      metrics: s.metrics,
      baseline: s.baseline,
      eligible: !s.small,
      reason: s.small ? `fewer than ${inputs.minSliceSize} rows` : undefined,
    })),
    known: knownMetrics(task, space),
  });
  const finished = performance.now();
  const elapsed = (finished - started) / 1000;
  const phases = {
    setupSeconds: (predictStarted - started) / 1000,
    predictSeconds: (metricsStarted - predictStarted) / 1000,
    metricsSeconds: (finished - metricsStarted) / 1000,
  };
  const unknown = space && unknownLabels(space, yTrue.view() as Int32Array);
  if (unknown) warnings.push(unknown);
  warnings.push(...evaluation.notes);
  const smallSlices = sliceResults.filter((s) => s.small);
  if (smallSlices.length > 0)
    warnings.push(
      `${smallSlices.length} slice(s) under min-slice-size (${inputs.minSliceSize}) are reported but not gated: ${smallSlices.map((s) => s.scope.slice(6)).join(', ')}`,
    );

  const report = buildReport({
    command: 'validate-model',
    gates: results,
    metrics: evaluation.metrics,
    warnings,
    details: {
      task,
      model: describeModel(candidate, predictors[0], candidateFeeds),
      ...(baseline ? { baselineModel: describeModel(baseline, predictors[1], baselineFeeds) } : {}),
      data: {
        files: files.map((f) => f.path),
        rowsRead,
        rowsEvaluated: rows,
        rowsSkipped: skipped.rows,
        skippedByColumn: skipped.byColumn,
        missingValues: inputs.missingValues,
      },
      ...evaluation.details,
      ...(baseline ? { baseline: evaluation.comparison } : {}),
      ...(slices.length > 0
        ? {
            slices: {
              columns: inputs.sliceColumns,
              minSliceSize: inputs.minSliceSize,
              results: sliceResults,
            },
          }
        : {}),
      performance: {
        seconds: elapsed,
        ...phases,
        rowsPerSecond: rowsRead / elapsed,
        inferenceSeconds: predictors.map((p) => Number(p.inferenceNs) / 1e9),
        batchSize,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
      },
      environment: {
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        engines: nativeEnginesInfo(),
      },
    },
  });
  const outputs: Record<string, string> = { metrics: JSON.stringify(evaluation.metrics) };
  for (const name of HEADLINE_OUTPUTS)
    outputs[name] = evaluation.metrics[name] == null ? '' : String(evaluation.metrics[name]);
  logger.info(
    `Evaluated ${rows.toLocaleString('en-US')} rows in ${elapsed.toFixed(2)} s (${Math.round(rowsRead / elapsed).toLocaleString('en-US')} rows/s)`,
  );
  return { report, markdown: renderValidateModel(report), outputs };
}

async function resolveTask(
  inputs: ValidateModelInputs,
  model: LoadedModel,
  files: DataFile[],
  header: string[],
  engine: Engine,
) {
  if (inputs.task !== 'auto') return inputs.task;
  const o = model.outputs;
  if (o.label || o.probabilities) return 'classification';
  if (o.scores && o.scores.width !== null && o.scores.width > 1) return 'classification';
  // A single score is a binary classifier's or a regressor's: the label column tells which.
  const few = await engine.fewDistinct(files, header, inputs.labelColumn, 2);
  return few !== null && few.length <= 2 ? 'classification' : 'regression';
}

/** numpy's np.unique order, which scikit-learn uses for classes_: numeric when every label is a number. */
export function sortLabels(labels: string[]): string[] {
  const numeric = labels.every((l) => l.trim() !== '' && Number.isFinite(Number(l)));
  return [...labels].sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The classes, in the model's score order when the model (or class-labels) names them; otherwise the
 * sorted labels of the data (scikit-learn's classes_), which needs one pass over the label column.
 * Labels the model does not know are added as they are met in the data.
 */
async function classSpace(
  inputs: ValidateModelInputs,
  model: LoadedModel,
  files: DataFile[],
  header: string[],
  engine: Engine,
) {
  const declared = inputs.classLabels ?? model.outputs.classLabels;
  if (declared) return new ClassSpace([...declared], declared.length);
  const counts = await engine.valueCounts(files, header, inputs.labelColumn);
  const labels = sortLabels([...counts.keys()].filter((k): k is string => k !== null));
  return new ClassSpace(labels, labels.length);
}

/** Labels in the data past the model's classes, with their row counts, for the report's warning. */
function unknownLabels(space: ClassSpace, yTrue: Int32Array): string | undefined {
  const counts = new Map<number, number>();
  for (const id of yTrue) if (id >= space.scoreClasses) counts.set(id, (counts.get(id) ?? 0) + 1);
  if (counts.size === 0) return undefined;
  const list = [...counts].map(([id, n]) => `${space.classes[id]} (${n} rows)`).join(', ');
  return `labels in the data that the model does not know: ${list}; they count as errors, and score-based metrics are not computed`;
}

function positiveClass(inputs: ValidateModelInputs, space: ClassSpace): number {
  if (inputs.positiveLabel !== undefined) {
    const id = space.index.get(inputs.positiveLabel);
    if (id === undefined)
      throw new ConfigurationError(
        `"${inputs.positiveLabel}" is not a class (classes: ${space.classes.join(', ')})`,
        'input "positive-label"',
      );
    return id;
  }
  return space.scoreClasses > 1 ? 1 : 0;
}

async function sliceValues(columns: string[], files: DataFile[], header: string[], engine: Engine) {
  const slices: { column: string; values: string[]; counts: number[] }[] = [];
  for (const column of columns) {
    const counts = await engine.valueCounts(files, header, column);
    const values = sortLabels([...counts.keys()].filter((k): k is string => k !== null));
    slices.push({ column, values, counts: values.map((v) => counts.get(v)!) });
  }
  return slices;
}

function knownMetrics(task: 'classification' | 'regression', space?: ClassSpace): string[] {
  if (task === 'regression') return [...REGRESSION_METRICS, 'rows'];
  const perClass = space!.classes.flatMap((c) => PER_CLASS_METRICS.map((m) => `${m}.${c}`));
  const binary = space!.scoreClasses === 2 ? BINARY_METRICS : [];
  return [...LABEL_METRICS, ...binary, ...SCORE_METRICS, ...perClass, 'rows'];
}

/**
 * Checks the label and the features of every row of a chunk. Returns the rows to keep (null = all),
 * or throws for the first empty/NaN cell in file order when the policy is `error`.
 */
function missingCells(
  chunk: Chunk,
  reads: ColumnRead[],
  file: DataFile,
  policy: 'error' | 'skip-row',
  skipped: { rows: number; byColumn: Record<string, number> },
  space?: ClassSpace,
): Uint8Array | null {
  let keep: Uint8Array | null = null;
  // Columns are scanned one at a time, so the first bad cell of the chunk is the earliest over all columns.
  let first: { row: number; column: string; what: string } | undefined;
  chunk.columns.forEach((column, c) => {
    const read = reads[c];
    const isSlice = c > 0 && read.as === 'code';
    if (isSlice) return; // an empty slice value is a slice of its own, not a missing cell
    if (column.as === 'code' && space) admitLabels(column, chunk.rows, space);
    const missing = missingRows(column, chunk.rows);
    if (!missing) return;
    for (let i = 0; i < chunk.rows; i++) {
      if (!missing[i]) continue;
      if (policy === 'error') {
        if (!first || i < first.row) {
          first = {
            row: i,
            column: read.name,
            what: column.as === 'code' || column.nulls?.[i] === 1 ? 'is empty' : 'is NaN',
          };
        }
        break;
      }
      keep ??= new Uint8Array(chunk.rows).fill(1);
      if (keep[i]) {
        keep[i] = 0;
        skipped.rows++;
        skipped.byColumn[read.name] = (skipped.byColumn[read.name] ?? 0) + 1;
      }
    }
  });
  if (first) {
    throw new ConfigurationError(
      `column "${first.column}" ${first.what}; fill it, or set missing-values: skip-row to drop such rows (they are counted in the report)`,
      `${file.path}, line ${chunk.firstRow + first.row + 2}`,
    );
  }
  return keep;
}

/** The rows of one column that are empty (or NaN), or null when there are none: the common case, in one tight loop. */
function missingRows(column: Chunk['columns'][number], rows: number): Uint8Array | null {
  if (column.as === 'code') {
    const codes = column.data;
    let any = false;
    for (let i = 0; i < rows; i++) any ||= codes[i] < 0;
    return any ? Uint8Array.from(codes.subarray(0, rows), (code) => (code < 0 ? 1 : 0)) : null;
  }
  const mask = column.nulls ? Uint8Array.from(column.nulls) : null;
  if (column.as !== 'float32' && column.as !== 'float64') return mask;
  const values = column.data;
  let nan = -1;
  for (let i = 0; i < rows && nan < 0; i++) if (Number.isNaN(values[i])) nan = i;
  if (nan < 0) return mask;
  const out = mask ?? new Uint8Array(rows);
  for (let i = nan; i < rows; i++) if (Number.isNaN(values[i])) out[i] = 1;
  return out;
}

/** Gives labels the model does not know (code -1) a class id of their own. */
function admitLabels(
  column: Extract<Chunk['columns'][number], { as: 'code' }>,
  rows: number,
  space: ClassSpace,
) {
  for (let i = 0; i < rows; i++) if (column.data[i] === -1) column.data[i] = space.idOf(column.textAt(i));
}

interface Evaluation {
  metrics: Record<string, number | null>;
  baselineMetrics?: Record<string, number | null>;
  /** Metrics of a subset of rows (a slice), for the candidate and the baseline. */
  metricsOf: (rows: Int32Array) => {
    metrics: Record<string, number | null>;
    baseline?: Record<string, number | null>;
  };
  details: Record<string, unknown>;
  comparison?: unknown;
  notes: string[];
}

function evaluateClassification(
  predictors: Predictor[],
  yTrue: Int32Array,
  space: ClassSpace,
  positiveId: number,
  inputs: ValidateModelInputs,
): Evaluation {
  const inputOf = (p: Predictor, rows?: Int32Array): ClassificationInput => {
    const yPred = p.predicted.view() as Int32Array;
    const proba = p.proba?.view();
    const c = space.scoreClasses;
    if (!rows)
      return { classes: space.classes, scoreClasses: c, yTrue, yPred, proba, positiveIndex: positiveId };
    const sub = {
      t: new Int32Array(rows.length),
      p: new Int32Array(rows.length),
      s: proba ? new Float32Array(rows.length * c) : undefined,
    };
    rows.forEach((r, i) => {
      sub.t[i] = yTrue[r];
      sub.p[i] = yPred[r];
      if (sub.s) sub.s.set(proba!.subarray(r * c, r * c + c), i * c);
    });
    return {
      classes: space.classes,
      scoreClasses: c,
      yTrue: sub.t,
      yPred: sub.p,
      proba: sub.s,
      positiveIndex: positiveId,
    };
  };
  const withRows = (m: Record<string, number | null>, n: number) => ({ ...m, rows: n });
  const main = classificationMetrics(inputOf(predictors[0]));
  const notes = [...main.notes];
  const evaluation: Evaluation = {
    metrics: withRows(main.metrics, yTrue.length),
    metricsOf: (rows) => ({
      metrics: withRows(classificationMetrics(inputOf(predictors[0], rows)).metrics, rows.length),
      baseline: predictors[1]
        ? withRows(classificationMetrics(inputOf(predictors[1], rows)).metrics, rows.length)
        : undefined,
    }),
    details: {
      classes: space.classes,
      scoreClasses: space.scoreClasses,
      positiveLabel: space.scoreClasses === 2 ? space.classes[positiveId] : undefined,
      confusionMatrix: main.confusionMatrix,
      perClass: main.perClass,
    },
    notes,
  };
  if (predictors[1]) {
    const a = inputOf(predictors[0]);
    const b = inputOf(predictors[1]);
    const base = classificationMetrics(b);
    evaluation.baselineMetrics = withRows(base.metrics, yTrue.length);
    const correct = (p: Int32Array) => {
      const out = new Uint8Array(yTrue.length);
      for (let i = 0; i < yTrue.length; i++) out[i] = p[i] === yTrue[i] ? 1 : 0;
      return out;
    };
    evaluation.comparison = {
      metrics: base.metrics,
      confusionMatrix: base.confusionMatrix,
      mcnemar: mcnemar(correct(a.yPred), correct(b.yPred)),
      intervals: compareClassification(a, b, { resamples: inputs.bootstrapResamples }),
    };
  }
  return evaluation;
}

function evaluateRegression(
  predictors: Predictor[],
  yTrue: Float64Array,
  inputs: ValidateModelInputs,
): Evaluation {
  const predOf = (p: Predictor) => p.predicted.view() as Float64Array;
  const subset = (a: Float64Array, rows: Int32Array) => Float64Array.from(rows, (r) => a[r]);
  const withRows = (m: Record<string, number | null>, n: number) => ({ ...m, rows: n });
  const main = regressionMetrics(yTrue, predOf(predictors[0]));
  const evaluation: Evaluation = {
    metrics: withRows(main.metrics, yTrue.length),
    metricsOf: (rows) => {
      const t = subset(yTrue, rows);
      return {
        metrics: withRows(regressionMetrics(t, subset(predOf(predictors[0]), rows)).metrics, rows.length),
        baseline: predictors[1]
          ? withRows(regressionMetrics(t, subset(predOf(predictors[1]), rows)).metrics, rows.length)
          : undefined,
      };
    },
    details: {},
    notes: main.notes,
  };
  if (predictors[1]) {
    const base = regressionMetrics(yTrue, predOf(predictors[1]));
    evaluation.baselineMetrics = withRows(base.metrics, yTrue.length);
    evaluation.comparison = {
      metrics: base.metrics,
      intervals: compareRegression(yTrue, predOf(predictors[0]), predOf(predictors[1]), {
        resamples: inputs.bootstrapResamples,
      }),
    };
  }
  return evaluation;
}

export interface SliceResult {
  scope: string;
  column: string;
  value: string;
  rows: number;
  small: boolean;
  metrics: Record<string, number | null>;
  baseline?: Record<string, number | null>;
}

function slicesOf(
  slices: { column: string; values: string[] }[],
  codes: Growable<Int32Array>[],
  metricsOf: Evaluation['metricsOf'],
  minSize: number,
  hasBaseline: boolean,
): SliceResult[] {
  const results: SliceResult[] = [];
  slices.forEach((slice, s) => {
    const column = codes[s].view();
    const members = slice.values.map(() => [] as number[]);
    const empty: number[] = [];
    for (let i = 0; i < column.length; i++) (column[i] >= 0 ? members[column[i]] : empty).push(i);
    const groups = [...slice.values.map((v, k) => [v, members[k]] as const), ['(empty)', empty] as const];
    for (const [value, rows] of groups) {
      if (rows.length === 0) continue;
      const m = metricsOf(Int32Array.from(rows));
      results.push({
        scope: `slice:${slice.column}=${value}`,
        column: slice.column,
        value,
        rows: rows.length,
        small: rows.length < minSize,
        metrics: m.metrics,
        ...(hasBaseline ? { baseline: m.baseline } : {}),
      });
    }
  });
  return results;
}

function describeModel(model: LoadedModel, predictor: Predictor, feeds: InputFeed[]) {
  return {
    path: model.path,
    sizeBytes: model.sizeBytes,
    producer: model.info.producer || undefined,
    opsets: model.info.opsets,
    inputs: model.info.inputs,
    outputs: model.info.outputs,
    feeds: feeds.map((f) => ({ input: f.input, columns: f.columns, as: f.tensorType })),
    interpretation: predictor.interpretation,
    classLabels: model.outputs.classLabels,
  };
}
