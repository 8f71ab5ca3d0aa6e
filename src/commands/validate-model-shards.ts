/**
 * Sharded evaluation: validate-model's details.sufficient as JSON, and the merge of the reports of a test
 * set's shards into the statistics of the whole. The metrics, gates and report of a merge are then made by
 * the same code as those of one evaluation (validate-model.ts, conclude).
 */

import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import {
  type ClassSpaceJson,
  classSpaceToJson,
  isClassificationStatistics,
  JsonReader,
  mergeStatistics,
  metricsFromStatistics,
  statisticsRows as rowsOf,
  StatisticsFormatError,
  type StatisticsJson,
  sortLabels,
  statisticsFromJson,
  statisticsToJson,
  type TaskStatistics,
} from '../metrics/index.js';
import { REPORT_SCHEMA_VERSION } from '../report/types.js';
import { expandPaths } from '../runtime/inputs.js';
import type { Described, SliceStatistics, Sufficient } from './validate-model.js';

/** The label of the slice of rows whose slice column is empty; it sorts after every value. */
export const EMPTY_SLICE = '(empty)';

/** details.sufficient, as written to the report. */
export interface SufficientJson extends Partial<ClassSpaceJson> {
  task: 'classification' | 'regression';
  labelColumn: string;
  sliceColumns: string[];
  model: StatisticsJson;
  baseline?: StatisticsJson;
  paired?: { b: number; c: number };
  slices: { column: string; value: string; model: StatisticsJson; baseline?: StatisticsJson }[];
}

export function sufficientToJson(s: Sufficient): SufficientJson {
  return {
    task: s.task,
    labelColumn: s.labelColumn,
    sliceColumns: s.sliceColumns,
    // Written once: every node of one report shares the class space.
    ...(isClassificationStatistics(s.model) ? classSpaceToJson(s.model) : {}),
    model: statisticsToJson(s.model),
    ...(s.baseline ? { baseline: statisticsToJson(s.baseline) } : {}),
    ...(s.paired ? { paired: s.paired } : {}),
    slices: s.slices.map((slice) => ({
      column: slice.column,
      value: slice.value,
      model: statisticsToJson(slice.model),
      ...(slice.baseline ? { baseline: statisticsToJson(slice.baseline) } : {}),
    })),
  };
}

/** Reads details.sufficient back; throws a StatisticsFormatError naming the field that is wrong. */
export function sufficientFromJson(json: unknown): Sufficient {
  const path = 'details.sufficient';
  const read = new JsonReader(path);
  const j = read.object(json, '');
  const task = read.string(j.task, 'task');
  if (task !== 'classification' && task !== 'regression')
    throw new StatisticsFormatError(
      `${path}.task`,
      `expected classification or regression, got ${JSON.stringify(task)}`,
    );
  const strings = (value: unknown, field: string) =>
    read.array(value, field).map((v, i) => read.string(v, `${field}[${i}]`));
  let space: ClassSpaceJson | undefined;
  if (task === 'classification') {
    space = {
      classes: strings(j.classes, 'classes'),
      scoredClasses: read.count(j.scoredClasses, 'scoredClasses'),
      positiveLabel: read.string(j.positiveLabel, 'positiveLabel'),
    };
    if (space.scoredClasses > space.classes.length || !space.classes.includes(space.positiveLabel))
      throw new StatisticsFormatError(path, 'scoredClasses and positiveLabel do not fit classes');
  }
  const node = (value: unknown, field: string) => statisticsFromJson(value, `${path}.${field}`, task, space);
  const paired = j.paired === undefined ? undefined : read.object(j.paired, 'paired');
  return {
    task,
    labelColumn: read.string(j.labelColumn, 'labelColumn'),
    sliceColumns: strings(j.sliceColumns, 'sliceColumns'),
    model: node(j.model, 'model'),
    ...(j.baseline === undefined ? {} : { baseline: node(j.baseline, 'baseline') }),
    ...(paired
      ? { paired: { b: read.count(paired.b, 'paired.b'), c: read.count(paired.c, 'paired.c') } }
      : {}),
    slices: read.array(j.slices, 'slices').map((entry, i): SliceStatistics => {
      const slice = read.object(entry, `slices[${i}]`);
      return {
        column: read.string(slice.column, `slices[${i}].column`),
        value: read.string(slice.value, `slices[${i}].value`),
        model: node(slice.model, `slices[${i}].model`),
        ...(slice.baseline === undefined ? {} : { baseline: node(slice.baseline, `slices[${i}].baseline`) }),
      };
    }),
  };
}

interface Shard {
  path: string;
  /** The report's details and envelope, as written: only read where the statistics do not reach. */
  report: Record<string, any>;
  sufficient: Sufficient;
}

/** What a merge hands to conclude. */
export interface MergedShards extends Described {
  sufficient: Sufficient;
  merge: { shards: unknown[]; unavailable: Record<string, string> };
}

const MERGE_INPUT = 'input "merge-reports"';

/**
 * Reads every shard report, checks that they are parts of one evaluation, and adds up their statistics.
 * `labelColumn` and `sliceColumns` (when given) must be what the shards were evaluated with.
 */
export function mergeShardReports(
  patterns: string[],
  labelColumn: string,
  sliceColumns: string[],
  logger: Logger,
): MergedShards {
  const shards = expandPaths(patterns, 'merge-reports').map(readShard);
  for (const shard of shards)
    logger.info(`${shard.path}: ${rowsOf(shard.sufficient.model).toLocaleString('en-US')} rows`);
  checkCompatible(shards, labelColumn, sliceColumns);
  const [first] = shards;
  const parts = shards.map((s) => s.sufficient);
  // One class space for every merged node: the model's classes, then the data's own labels as met.
  const classes = isClassificationStatistics(first.sufficient.model)
    ? [...new Set(parts.flatMap((p) => (isClassificationStatistics(p.model) ? p.model.classes : [])))]
    : undefined;
  const merged = (nodes: TaskStatistics[]) => mergeStatistics(nodes, classes);
  const sufficient: Sufficient = {
    task: first.sufficient.task,
    labelColumn: first.sufficient.labelColumn,
    sliceColumns: first.sufficient.sliceColumns,
    model: merged(parts.map((p) => p.model)),
    ...(first.sufficient.baseline ? { baseline: merged(parts.map((p) => p.baseline!)) } : {}),
    ...(first.sufficient.paired
      ? {
          paired: {
            b: parts.reduce((n, p) => n + (p.paired?.b ?? 0), 0),
            c: parts.reduce((n, p) => n + (p.paired?.c ?? 0), 0),
          },
        }
      : {}),
    slices: mergeSlices(parts, merged),
  };
  const data = shards.map((s) => s.report.details?.data ?? {});
  const total = (key: string) => data.reduce((n, d) => n + (Number(d[key]) || 0), 0);
  const skippedByColumn: Record<string, number> = {};
  for (const d of data)
    for (const [column, n] of Object.entries(d.skippedByColumn ?? {}))
      skippedByColumn[column] = (skippedByColumn[column] ?? 0) + Number(n);
  const policies = [...new Set(data.map((d) => String(d.missingValues)))];
  return {
    sufficient,
    model: first.report.details.model,
    ...(first.report.details.baselineModel ? { baselineModel: first.report.details.baselineModel } : {}),
    data: {
      files: data.flatMap((d) => (Array.isArray(d.files) ? d.files : [])),
      rowsRead: total('rowsRead'),
      rowsEvaluated: rowsOf(sufficient.model),
      rowsSkipped: total('rowsSkipped'),
      skippedByColumn,
      missingValues: policies.join(', '),
    },
    merge: {
      shards: shards.map((s) => ({
        path: s.path,
        rows: rowsOf(s.sufficient.model),
        rowsRead: s.report.details.data?.rowsRead,
        files: s.report.details.data?.files,
        createdAt: s.report.createdAt,
        version: s.report.version,
        passed: s.report.passed,
        seconds: s.report.details.performance?.seconds,
      })),
      unavailable: unavailableMetrics(shards, sufficient),
    },
  };
}

function readShard(path: string): Shard {
  const refuse = (message: string) => new ConfigurationError(message, `${MERGE_INPUT} (${path})`);
  let report: any;
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw refuse(
      code
        ? `cannot read it (${code})`
        : `is not JSON (${(e as Error).message}); give the JSON reports the shards wrote`,
    );
  }
  if (report?.command !== 'validate-model')
    throw refuse(
      `is not a validate-model report (command: ${JSON.stringify(report?.command)}); give the JSON reports that the validate-model steps of the shards wrote (their report-path)`,
    );
  if (report.schemaVersion !== REPORT_SCHEMA_VERSION)
    throw refuse(
      `has schemaVersion ${JSON.stringify(report.schemaVersion)}, this mlgate reads ${REPORT_SCHEMA_VERSION}; run the shards and the merge with the same mlgate version`,
    );
  if (report.error)
    throw refuse(
      `is the report of a shard that could not run (${report.error.message}); fix that shard and run it again`,
    );
  if (report.details?.sufficient === undefined)
    throw refuse(
      `has no details.sufficient, the statistics a merge adds up: run the shard with sufficient-statistics: true (mlgate ${report.version ?? '(unknown version)'} wrote it)`,
    );
  try {
    return { path, report, sufficient: sufficientFromJson(report.details.sufficient) };
  } catch (e) {
    if (!(e instanceof StatisticsFormatError)) throw e;
    throw refuse(`${e.message}; the report must be as validate-model wrote it`);
  }
}

/** Refuses shards that are not parts of one evaluation, naming the first one that differs and what to do. */
function checkCompatible(shards: Shard[], labelColumn: string, sliceColumns: string[]): void {
  const [first] = shards;
  const f = first.sufficient;
  if (f.labelColumn !== labelColumn)
    throw new ConfigurationError(
      `is "${labelColumn}", but the shards were evaluated with label-column "${f.labelColumn}" (${first.path}); set the same label column`,
      'input "label-column"',
    );
  if (sliceColumns.length > 0 && sliceColumns.join('\n') !== f.sliceColumns.join('\n'))
    throw new ConfigurationError(
      `is ${list(sliceColumns)}, but the shards were evaluated with slice-columns ${list(f.sliceColumns)} (${first.path}); leave it empty to take the shards' slices, or set the same`,
      'input "slice-columns"',
    );
  const space = (s: Sufficient) => {
    if (!isClassificationStatistics(s.model)) return undefined;
    const { classes, scoreClasses, positiveIndex } = s.model;
    return { scored: classes.slice(0, scoreClasses), positive: classes[positiveIndex] };
  };
  const seen = new Map<string, string>();
  for (const shard of shards) {
    const s = shard.sufficient;
    const differ = (what: string, a: string, b: string, fix: string) =>
      new ConfigurationError(
        `${shard.path} and ${first.path} are not shards of one evaluation: ${what} (${b} against ${a}); ${fix}`,
        MERGE_INPUT,
      );
    if (s.task !== f.task) throw differ('the task differs', f.task, s.task, 'merge the shards of one model');
    if (s.labelColumn !== f.labelColumn)
      throw differ(
        'the label column differs',
        f.labelColumn,
        s.labelColumn,
        'evaluate every shard with the same label-column',
      );
    const [a, b] = [space(f), space(s)];
    if (a && b && a.scored.join('\n') !== b.scored.join('\n'))
      throw differ(
        "the model's class labels differ",
        list(a.scored),
        list(b.scored),
        'a shard that lacks a class takes its classes from its own data: set the same class-labels on every shard',
      );
    if (a && b && a.positive !== b.positive)
      throw differ(
        'the positive label differs',
        a.positive,
        b.positive,
        'set the same positive-label on every shard',
      );
    if (s.sliceColumns.join('\n') !== f.sliceColumns.join('\n'))
      throw differ(
        'the slice columns differ',
        list(f.sliceColumns),
        list(s.sliceColumns),
        'evaluate every shard with the same slice-columns',
      );
    if (Boolean(s.baseline) !== Boolean(f.baseline))
      throw differ(
        'one has a baseline model and the other not',
        f.baseline ? 'a baseline' : 'none',
        s.baseline ? 'a baseline' : 'none',
        'give every shard the same baseline-model, or none',
      );
    for (const key of ['model', 'baselineModel'] as const) {
      if (fingerprint(shard.report.details[key]) !== fingerprint(first.report.details[key]))
        throw differ(
          `they evaluated different ${key === 'model' ? 'models' : 'baseline models'}`,
          describeModel(first.report.details[key]),
          describeModel(shard.report.details[key]),
          'merge the shards of one model',
        );
    }
    // The same report twice (an artifact downloaded into two folders) would count its rows twice.
    const identity = `${shard.report.createdAt} ${rowsOf(s.model)} ${JSON.stringify(shard.report.details.data?.files)}`;
    const twin = seen.get(identity);
    if (twin)
      throw new ConfigurationError(
        `${shard.path} and ${twin} are the same shard report (written at ${shard.report.createdAt}); give each shard once`,
        MERGE_INPUT,
      );
    seen.set(identity, shard.path);
  }
}

const list = (items: string[]) => `[${items.join(', ')}]`;

/** What identifies a model in its report (its sha256 among the rest): everything but the path, which differs between jobs. */
function fingerprint(model: any): string {
  if (!model) return '';
  const { path: _, feeds: __, ...rest } = model;
  return JSON.stringify(rest);
}

const describeModel = (model: any) =>
  model
    ? `${model.path}, ${model.sizeBytes} bytes, sha256 ${String(model.sha256).slice(0, 12)}, read as ${model.interpretation}`
    : 'none';

/** Per column, the slices of every shard added up: values in sorted order, the empty value last, as one evaluation orders them. */
function mergeSlices(
  parts: Sufficient[],
  merged: (nodes: TaskStatistics[]) => TaskStatistics,
): SliceStatistics[] {
  const groups = new Map<string, { model: TaskStatistics[]; baseline: TaskStatistics[] }>();
  for (const part of parts) {
    for (const slice of part.slices) {
      const key = JSON.stringify([slice.column, slice.value]);
      const group = groups.get(key) ?? { model: [], baseline: [] };
      group.model.push(slice.model);
      if (slice.baseline) group.baseline.push(slice.baseline);
      groups.set(key, group);
    }
  }
  return parts[0].sliceColumns.flatMap((column) => {
    const values = parts.flatMap((p) => p.slices.filter((s) => s.column === column).map((s) => s.value));
    const distinct = [...new Set(values)];
    const ordered = [
      ...sortLabels(distinct.filter((v) => v !== EMPTY_SLICE)),
      ...distinct.filter((v) => v === EMPTY_SLICE),
    ];
    return ordered.map((value) => {
      const group = groups.get(JSON.stringify([column, value]))!;
      return {
        column,
        value,
        model: merged(group.model),
        ...(group.baseline.length > 0 ? { baseline: merged(group.baseline) } : {}),
      };
    });
  });
}

/**
 * Metrics the shards report that the merged statistics do not give back: a metric that is not a sum over
 * rows (a median, say) cannot be recomputed from shards, and must fail its gates rather than vanish.
 */
function unavailableMetrics(shards: Shard[], merged: Sufficient): Record<string, string> {
  const computed = new Set(['rows']);
  for (const node of [merged.model, merged.baseline, ...merged.slices.flatMap((s) => [s.model, s.baseline])])
    if (node) for (const name of Object.keys(metricsFromStatistics(node).metrics)) computed.add(name);
  const reported = new Set<string>();
  for (const { report } of shards) {
    const scopes = [
      report.metrics,
      report.details.baseline?.metrics,
      ...(report.details.slices?.results ?? []).flatMap((r: any) => [r.metrics, r.baseline]),
    ];
    for (const scope of scopes) for (const name of Object.keys(scope ?? {})) reported.add(name);
  }
  const unavailable: Record<string, string> = {};
  for (const name of [...reported].sort())
    if (!computed.has(name))
      unavailable[name] =
        'the shards report it, but it is not a sum over rows, so it cannot be recomputed from their sufficient statistics (details.sufficient); gate on it per shard, or evaluate the test set unsharded';
  return unavailable;
}
