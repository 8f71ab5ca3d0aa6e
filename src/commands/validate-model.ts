import { type Batch, Batcher } from '../data/batcher.js';
import { type Chunk, type ColumnRead, Engine } from '../data/engine.js';
import { type DataFile, expandDataInput } from '../data/files.js';
import { ConfigurationError } from '../errors.js';
import { assertKnownMetrics, evaluateGates, type Gate, loadGates } from '../gates/index.js';
import type { Logger } from '../logging.js';
import {
  BINARY_METRICS,
  type ClassificationInput,
  type ClassificationStatistics,
  classificationStatistics,
  compareClassification,
  compareRegression,
  type Interval,
  isClassificationStatistics,
  LABEL_METRICS,
  type MetricValues,
  mcnemar,
  mcnemarFromCounts,
  metricsFromStatistics,
  PER_CLASS_METRICS,
  REGRESSION_METRICS,
  regressionStatistics,
  SCORE_METRICS,
  sortLabels,
  type TaskStatistics,
} from '../metrics/index.js';
import { type InputFeed, planFeeds, readsFor } from '../model/feed.js';
import { type LoadedModel, loadModel } from '../model/load.js';
import { ClassSpace, Growable, Predictor } from '../model/predict.js';
import { loadOnnxRuntime, nativeEnginesInfo } from '../native/index.js';
import { buildReport } from '../report/json.js';
import type { Command, CommandResult } from '../runtime/command.js';
import { input, type RawInputs } from '../runtime/inputs.js';
import { EMPTY_SLICE, mergeShardReports, sufficientToJson } from './validate-model-shards.js';
import { renderValidateModel } from './validate-model-summary.js';

export interface ValidateModelInputs {
  /** '' when merging shard reports. */
  model: string;
  data: string[];
  /** Shard reports (paths or globs) to merge instead of evaluating a model; empty to evaluate. */
  mergeReports: string[];
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
  /** Write details.sufficient for a later merge. */
  sufficientStatistics: boolean;
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
  const mergeReports = input.list(raw, 'merge-reports');
  const model = input.optional(raw, 'model');
  const data = input.list(raw, 'data');
  const baselineModel = input.optional(raw, 'baseline-model');
  if (mergeReports.length > 0) {
    // The shards evaluated the models: a model here would be silently ignored, which hides a mistake.
    const extra = [
      ['model', model],
      ['data', data.length > 0],
      ['baseline-model', baselineModel],
    ].find(([, value]) => value);
    if (extra)
      throw new ConfigurationError(
        `is not used with merge-reports (the shard reports already hold the evaluation); remove it, or remove merge-reports to evaluate the model here`,
        `input "${extra[0]}"`,
      );
  } else if (!model) {
    throw new ConfigurationError(
      `is required: the path of the .onnx model to validate, or merge-reports to merge the JSON reports of shards evaluated elsewhere`,
      'input "model"',
    );
  }
  return {
    model: model ?? '',
    data,
    mergeReports,
    labelColumn: input.required(raw, 'label-column', 'the name of the column holding the true label'),
    task: input.choice(raw, 'task', ['auto', 'classification', 'regression'] as const),
    featureColumns: list('feature-columns'),
    classLabels: list('class-labels'),
    positiveLabel: input.optional(raw, 'positive-label'),
    gates: input.lines(raw, 'gates'),
    gatesFile: input.optional(raw, 'gates-file'),
    baselineModel,
    sliceColumns: input.list(raw, 'slice-columns'),
    minSliceSize: input.int(raw, 'min-slice-size', 1),
    missingValues: input.choice(raw, 'missing-values', ['error', 'skip-row'] as const),
    batchSize: input.intOrAuto(raw, 'batch-size', 1),
    threads: input.int(raw, 'threads', 0),
    bootstrapResamples: input.intOrAuto(raw, 'bootstrap-resamples', 1),
    sufficientStatistics: input.bool(raw, 'sufficient-statistics'),
  };
}

export const validateModel: Command<ValidateModelInputs> = {
  name: 'validate-model',
  title: 'Model validation',
  readInputs: readValidateModelInputs,
  async run(inputs, logger) {
    // Gates are parsed before any data is read: a typo should cost seconds, not a full evaluation.
    const gates = loadGates(inputs.gates, inputs.gatesFile);
    // Merging needs no data engine and no model runtime: a merge job does not pay for installing them.
    if (inputs.mergeReports.length > 0) return merge(inputs, gates, logger);
    if (inputs.data.length === 0)
      throw new ConfigurationError(
        'is required: the test data (CSV/TSV/Parquet paths or globs), or merge-reports to merge the JSON reports of shards evaluated elsewhere',
        'input "data"',
      );
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
  const files = expandDataInput(inputs.data);
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
  const metricsStarted = performance.now();
  const rowsOf = space
    ? classificationRows(predictors, yTrue.view() as Int32Array, space, positiveId!)
    : regressionRows(predictors, yTrue.view() as Float64Array);
  const hasBaseline = predictors.length === 2;
  const sufficient: Sufficient = {
    task,
    labelColumn: inputs.labelColumn,
    sliceColumns: inputs.sliceColumns,
    model: rowsOf.statistics(0),
    ...(hasBaseline ? { baseline: rowsOf.statistics(1), paired: rowsOf.paired?.() } : {}),
    slices: sliceRows(slices, sliceCodes).map(({ column, value, rows }) => ({
      column,
      value,
      model: rowsOf.statistics(0, rows),
      ...(hasBaseline ? { baseline: rowsOf.statistics(1, rows) } : {}),
    })),
  };
  const result = conclude({
    sufficient,
    keepStatistics: inputs.sufficientStatistics,
    gates,
    minSliceSize: inputs.minSliceSize,
    model: describeModel(candidate, predictors[0], candidateFeeds),
    baselineModel: baseline && describeModel(baseline, predictors[1], baselineFeeds),
    data: {
      files: files.map((f) => f.path),
      rowsRead,
      rowsEvaluated: rows,
      rowsSkipped: skipped.rows,
      skippedByColumn: skipped.byColumn,
      missingValues: inputs.missingValues,
    },
    intervals: hasBaseline ? rowsOf.intervals({ resamples: inputs.bootstrapResamples }) : undefined,
    performance: (finished) => {
      const elapsed = (finished - started) / 1000;
      return {
        seconds: elapsed,
        setupSeconds: (predictStarted - started) / 1000,
        predictSeconds: (metricsStarted - predictStarted) / 1000,
        metricsSeconds: (finished - metricsStarted) / 1000,
        rowsPerSecond: rowsRead / elapsed,
        inferenceSeconds: predictors.map((p) => Number(p.inferenceNs) / 1e9),
        batchSize,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
      };
    },
  });
  const elapsed = (performance.now() - started) / 1000;
  logger.info(
    `Evaluated ${rows.toLocaleString('en-US')} rows in ${elapsed.toFixed(2)} s (${Math.round(rowsRead / elapsed).toLocaleString('en-US')} rows/s)`,
  );
  return result;
}

/** Reads the shards' reports, adds up their statistics and judges the gates on the whole. */
async function merge(inputs: ValidateModelInputs, gates: Gate[], logger: Logger): Promise<CommandResult> {
  const started = performance.now();
  const merged = await logger.group('Merging shard reports', async () =>
    mergeShardReports(inputs.mergeReports, inputs.labelColumn, inputs.sliceColumns, logger),
  );
  const result = conclude({
    ...merged,
    // A merged report can be merged again, with other shards.
    keepStatistics: true,
    gates,
    minSliceSize: inputs.minSliceSize,
    intervals: null,
    performance: (finished) => ({
      seconds: (finished - started) / 1000,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }),
  });
  const shards = merged.merge.shards.length;
  logger.info(
    `Merged ${shards} shard report(s), ${merged.data.rowsEvaluated.toLocaleString('en-US')} rows in all`,
  );
  return result;
}

/**
 * What the metrics of an evaluation are computed from: the sufficient statistics of every model on all
 * rows and on every slice. A merge of shards arrives at the same thing by adding theirs up, so both go
 * through conclude and no metric has a second implementation.
 */
export interface Sufficient {
  task: 'classification' | 'regression';
  labelColumn: string;
  sliceColumns: string[];
  model: TaskStatistics;
  baseline?: TaskStatistics;
  /** McNemar's discordant counts: rows only the model got right (b), only the baseline (c). */
  paired?: { b: number; c: number };
  slices: SliceStatistics[];
}

export interface SliceStatistics {
  column: string;
  value: string;
  model: TaskStatistics;
  baseline?: TaskStatistics;
}

/** The details an evaluation describes, or a merge carries over from its shards. */
export interface Described {
  model: unknown;
  baselineModel?: unknown;
  data: {
    files: string[];
    rowsRead: number;
    rowsEvaluated: number;
    rowsSkipped: number;
    skippedByColumn: Record<string, number>;
    missingValues: string;
  };
  /** Set by a merge: the shards, and metrics they report that their statistics cannot give back. */
  merge?: { shards: unknown[]; unavailable: Record<string, string> };
}

interface Conclusion extends Described {
  sufficient: Sufficient;
  /** Whether the report carries the statistics, for a later merge. */
  keepStatistics: boolean;
  gates: Gate[];
  minSliceSize: number;
  /** The paired bootstrap of the baseline comparison; null when the rows were not at hand (a merge). */
  intervals: Record<string, Interval> | null | undefined;
  performance: (finished: number) => Record<string, unknown>;
}

/** Metrics from the statistics, gates on them, and the report. */
function conclude(c: Conclusion): CommandResult {
  const { sufficient: s } = c;
  const space = isClassificationStatistics(s.model) ? s.model : undefined;
  const unavailable = c.merge?.unavailable ?? {};
  // A metric the statistics cannot give back is null in every scope, so a gate on it fails with the reason.
  const measured = (stats: TaskStatistics) => {
    const m = metricsFromStatistics(stats);
    const metrics: MetricValues = { ...m.metrics, rows: m.rows };
    for (const name of Object.keys(unavailable)) metrics[name] = null;
    return { ...m, metrics };
  };
  const main = measured(s.model);
  const base = s.baseline && measured(s.baseline);
  const sliceResults: SliceResult[] = s.slices.map((slice) => {
    const m = measured(slice.model);
    return {
      scope: `slice:${slice.column}=${slice.value}`,
      column: slice.column,
      value: slice.value,
      rows: m.rows,
      small: m.rows < c.minSliceSize,
      metrics: m.metrics,
      ...(slice.baseline ? { baseline: measured(slice.baseline).metrics } : {}),
    };
  });
  const known = [...knownMetrics(s.task, space), ...Object.keys(unavailable)];
  const results = evaluateGates(c.gates, {
    metrics: main.metrics,
    baseline: base?.metrics,
    slices: sliceResults.map((r) => ({
      scope: r.scope,
      metrics: r.metrics,
      baseline: r.baseline,
      eligible: !r.small,
      reason: r.small ? `fewer than ${c.minSliceSize} rows` : undefined,
    })),
    known,
    unavailable,
  });

  const warnings: string[] = [];
  const { rowsSkipped, rowsRead, missingValues } = c.data;
  if (rowsSkipped > 0)
    warnings.push(
      `${rowsSkipped} of ${rowsRead} rows skipped for empty or NaN cells (missing-values: ${missingValues})`,
    );
  const unknown = space && unknownLabels(space);
  if (unknown) warnings.push(unknown);
  warnings.push(...main.notes);
  const smallSlices = sliceResults.filter((r) => r.small);
  if (smallSlices.length > 0)
    warnings.push(
      `${smallSlices.length} slice(s) under min-slice-size (${c.minSliceSize}) are reported but not gated: ${smallSlices.map((r) => r.scope.slice(6)).join(', ')}`,
    );
  for (const [name, reason] of Object.entries(unavailable)) warnings.push(`${name}: ${reason}`);

  const classification = main.classification;
  const withoutRows = ({ rows: _, ...metrics }: MetricValues) => metrics;
  const comparison = base && {
    metrics: withoutRows(base.metrics),
    ...(base.classification ? { confusionMatrix: base.classification.confusionMatrix } : {}),
    ...(s.paired ? { mcnemar: mcnemarFromCounts(s.paired.b, s.paired.c) } : {}),
    intervals: c.intervals ?? null,
    ...(c.intervals === null
      ? {
          intervalsUnavailable:
            'a paired bootstrap resamples rows, and merged shards carry sums, not rows: no confidence intervals',
        }
      : {}),
  };
  const report = buildReport({
    command: 'validate-model',
    gates: results,
    metrics: main.metrics,
    warnings,
    details: {
      task: s.task,
      model: c.model,
      ...(c.baselineModel ? { baselineModel: c.baselineModel } : {}),
      data: c.data,
      ...(space && classification
        ? {
            classes: space.classes,
            scoreClasses: space.scoreClasses,
            positiveLabel: space.scoreClasses === 2 ? space.classes[space.positiveIndex] : undefined,
            confusionMatrix: classification.confusionMatrix,
            perClass: classification.perClass,
          }
        : {}),
      ...(comparison ? { baseline: comparison } : {}),
      ...(s.sliceColumns.length > 0
        ? {
            slices: {
              columns: s.sliceColumns,
              minSliceSize: c.minSliceSize,
              results: sliceResults,
            },
          }
        : {}),
      performance: c.performance(performance.now()),
      environment: {
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        engines: nativeEnginesInfo(),
      },
      ...(c.merge ? { merge: c.merge } : {}),
      ...(c.keepStatistics ? { sufficient: sufficientToJson(s) } : {}),
    },
  });
  const outputs: Record<string, string> = { metrics: JSON.stringify(main.metrics) };
  for (const name of HEADLINE_OUTPUTS)
    outputs[name] = main.metrics[name] == null ? '' : String(main.metrics[name]);
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
function unknownLabels(stats: ClassificationStatistics): string | undefined {
  const { classes, scoreClasses, confusion } = stats;
  const C = classes.length;
  const list: string[] = [];
  for (let id = scoreClasses; id < C; id++) {
    const rows = confusion.subarray(id * C, (id + 1) * C).reduce((a, b) => a + b, 0);
    if (rows > 0) list.push(`${classes[id]} (${rows} rows)`);
  }
  if (list.length === 0) return undefined;
  return `labels in the data that the model does not know: ${list.join(', ')}; they count as errors, and score-based metrics are not computed`;
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

function knownMetrics(
  task: 'classification' | 'regression',
  space?: { classes: string[]; scoreClasses: number },
): string[] {
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

/** The statistics of a model's predictions (0 = the candidate, 1 = the baseline) on all rows or a subset. */
interface RowsEvaluation {
  statistics(model: number, rows?: Int32Array): TaskStatistics;
  /** McNemar's discordant counts of the candidate against the baseline (classification). */
  paired?(): { b: number; c: number };
  /** The paired bootstrap of every metric's difference: it needs the rows, so a merge cannot redo it. */
  intervals(options: { resamples?: number }): Record<string, Interval>;
}

function classificationRows(
  predictors: Predictor[],
  yTrue: Int32Array,
  space: ClassSpace,
  positiveId: number,
): RowsEvaluation {
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
  const correct = (p: Predictor) => {
    const yPred = p.predicted.view() as Int32Array;
    return Uint8Array.from(yTrue, (t, i) => (yPred[i] === t ? 1 : 0));
  };
  return {
    statistics: (model, rows) => classificationStatistics(inputOf(predictors[model], rows)),
    paired: () => {
      const { b, c } = mcnemar(correct(predictors[0]), correct(predictors[1]));
      return { b, c };
    },
    intervals: (options) => compareClassification(inputOf(predictors[0]), inputOf(predictors[1]), options),
  };
}

function regressionRows(predictors: Predictor[], yTrue: Float64Array): RowsEvaluation {
  const predOf = (model: number) => predictors[model].predicted.view() as Float64Array;
  const subset = (a: Float64Array, rows?: Int32Array) => (rows ? Float64Array.from(rows, (r) => a[r]) : a);
  return {
    statistics: (model, rows) => regressionStatistics(subset(yTrue, rows), subset(predOf(model), rows)),
    intervals: (options) => compareRegression(yTrue, predOf(0), predOf(1), options),
  };
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

/** The rows of every slice that has any: per column, its values in sorted order, then the empty one. */
function sliceRows(
  slices: { column: string; values: string[] }[],
  codes: Growable<Int32Array>[],
): { column: string; value: string; rows: Int32Array }[] {
  return slices.flatMap((slice, s) => {
    const column = codes[s].view();
    const members = slice.values.map(() => [] as number[]);
    const empty: number[] = [];
    for (let i = 0; i < column.length; i++) (column[i] >= 0 ? members[column[i]] : empty).push(i);
    return [...slice.values.map((v, k) => [v, members[k]] as const), [EMPTY_SLICE, empty] as const]
      .filter(([, rows]) => rows.length > 0)
      .map(([value, rows]) => ({ column: slice.column, value, rows: Int32Array.from(rows) }));
  });
}

function describeModel(model: LoadedModel, predictor: Predictor, feeds: InputFeed[]) {
  return {
    path: model.path,
    sizeBytes: model.sizeBytes,
    sha256: model.sha256,
    producer: model.info.producer || undefined,
    opsets: model.info.opsets,
    inputs: model.info.inputs,
    outputs: model.info.outputs,
    feeds: feeds.map((f) => ({ input: f.input, columns: f.columns, as: f.tensorType })),
    interpretation: predictor.interpretation,
    classLabels: model.outputs.classLabels,
  };
}
