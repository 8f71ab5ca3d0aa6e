/**
 * Sufficient statistics as JSON: what validate-model writes under details.sufficient, so that the reports
 * of a test set's shards merge into the metrics of the whole. Exact: counts are integers, sums are full
 * doubles, and float32 scores are written with the 9 significant digits that identify a float32 (read back
 * through Math.fround), which halves the longest part of the report.
 */

import {
  type ClassificationResult,
  type ClassificationStatistics,
  classificationFromStatistics,
  type MetricValues,
  mergeClassificationStatistics,
  type ScoreRuns,
} from './classification.js';
import {
  mergeRegressionStatistics,
  type RegressionStatistics,
  regressionFromStatistics,
} from './regression.js';

export type TaskStatistics = ClassificationStatistics | RegressionStatistics;

export const isClassificationStatistics = (s: TaskStatistics): s is ClassificationStatistics =>
  'confusion' in s;

export const statisticsRows = (s: TaskStatistics): number =>
  isClassificationStatistics(s) ? s.rows : s.weight;

/** The class space, written once per report: every classification node below shares it. */
export interface ClassSpaceJson {
  /** Class names; index = class id in every confusion matrix. The model's scored classes come first. */
  classes: string[];
  /** How many leading classes the model scores; the others are labels only the data has. */
  scoredClasses: number;
  /** The class binary metrics and the binary score column are about. */
  positiveLabel: string;
}

export interface RankingJson {
  /** The class whose probability is ranked (one-vs-rest); its rows are the positives. */
  class: string;
  /** Distinct scores, strictly descending. */
  scores: number[];
  /** Per score: how many rows of the class, and of the other classes, have exactly that score. */
  positives: number[];
  negatives: number[];
}

export interface ClassificationStatisticsJson {
  rows: number;
  /** classes x classes (the class space's order), rows = true class, columns = predicted. */
  confusionMatrix: number[][];
  /** Absent when the model gives no usable probabilities (then noScores says why). */
  scores?: { type: 'float32' | 'float64'; logLossSum: number; ranking: RankingJson[] };
  noScores?: string;
}

/** Sums of x - centre and of its square: the variances behind r2 and explained_variance. */
export interface CentredSumsJson {
  centre: number;
  sum: number;
  sumSquares: number;
}

export interface RegressionStatisticsJson {
  rows: number;
  /** Sums over rows of |e|, e^2 and |e| / max(|y|, eps), with e = prediction - target. */
  absErrorSum: number;
  squaredErrorSum: number;
  relativeErrorSum: number;
  maxAbsError: number;
  error: CentredSumsJson;
  target: CentredSumsJson;
  /** Some target is 0, which makes mape huge. */
  zeroTarget: boolean;
  /** Why no metric is computed (NaN or infinite values); the sums are then null. */
  invalid?: string;
}

export type StatisticsJson = ClassificationStatisticsJson | RegressionStatisticsJson;

export function classSpaceToJson(s: ClassificationStatistics): ClassSpaceJson {
  return {
    classes: s.classes,
    scoredClasses: s.scoreClasses,
    positiveLabel: s.classes[s.positiveIndex] ?? '',
  };
}

// 9 significant digits identify every float32; Math.fround on reading gives back the very value.
const float32Json = (x: number) => Number(x.toPrecision(9));

export function statisticsToJson(s: TaskStatistics): StatisticsJson {
  if (!isClassificationStatistics(s)) {
    return {
      rows: s.weight,
      absErrorSum: s.absError,
      squaredErrorSum: s.squaredError,
      relativeErrorSum: s.relativeError,
      maxAbsError: s.maxError,
      error: { centre: s.errorCentre, sum: s.centredError, sumSquares: s.centredErrorSquared },
      target: { centre: s.trueCentre, sum: s.centredTrue, sumSquares: s.centredTrueSquared },
      zeroTarget: s.hasZeroTarget,
      ...(s.invalid ? { invalid: s.invalid } : {}),
    };
  }
  const C = s.classes.length;
  const json: ClassificationStatisticsJson = {
    rows: s.rows,
    confusionMatrix: s.classes.map((_, t) => Array.from(s.confusion.subarray(t * C, (t + 1) * C))),
  };
  if (!s.scores) return { ...json, noScores: s.noScores };
  const { float32 } = s.scores;
  json.scores = {
    type: float32 ? 'float32' : 'float64',
    logLossSum: s.scores.lossSum,
    ranking: s.scores.runs.map((r) => ({
      class: s.classes[r.classId],
      scores: Array.from(r.scores, float32 ? float32Json : (x) => x),
      positives: Array.from(r.positives),
      negatives: Array.from(r.negatives),
    })),
  };
  return json;
}

/** A malformed details.sufficient: `path` names the field, for the message the command gives. */
export class StatisticsFormatError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

/** Reads one node back; throws a StatisticsFormatError naming the field that is wrong. */
export function statisticsFromJson(
  json: unknown,
  path: string,
  task: 'classification' | 'regression',
  space?: ClassSpaceJson,
): TaskStatistics {
  const read = new JsonReader(path);
  const node = read.object(json, '');
  if (task === 'regression') {
    const centred = (key: string) => {
      const c = read.object(node[key], key);
      return {
        centre: read.number(c.centre, `${key}.centre`),
        sum: read.number(c.sum, `${key}.sum`),
        squares: read.number(c.sumSquares, `${key}.sumSquares`),
      };
    };
    const error = centred('error');
    const target = centred('target');
    return {
      weight: read.count(node.rows, 'rows'),
      absError: read.number(node.absErrorSum, 'absErrorSum'),
      squaredError: read.number(node.squaredErrorSum, 'squaredErrorSum'),
      relativeError: read.number(node.relativeErrorSum, 'relativeErrorSum'),
      maxError: read.number(node.maxAbsError, 'maxAbsError'),
      centredError: error.sum,
      centredErrorSquared: error.squares,
      centredTrue: target.sum,
      centredTrueSquared: target.squares,
      errorCentre: error.centre,
      trueCentre: target.centre,
      hasZeroTarget: read.boolean(node.zeroTarget, 'zeroTarget'),
      invalid: node.invalid === undefined ? '' : read.string(node.invalid, 'invalid'),
    };
  }
  const { classes, scoredClasses } = space!;
  const C = classes.length;
  const rows = read.count(node.rows, 'rows');
  const confusion = new Float64Array(C * C);
  const matrix = read.array(node.confusionMatrix, 'confusionMatrix', C);
  matrix.forEach((row, t) => {
    read.array(row, `confusionMatrix[${t}]`, C).forEach((count, p) => {
      confusion[t * C + p] = read.count(count, `confusionMatrix[${t}][${p}]`);
    });
  });
  if (confusion.reduce((a, b) => a + b, 0) !== rows)
    throw new StatisticsFormatError(path, `confusionMatrix does not add up to rows (${rows})`);
  const base = {
    classes,
    scoreClasses: scoredClasses,
    positiveIndex: classes.indexOf(space!.positiveLabel),
    rows,
    confusion,
  };
  if (node.scores === undefined)
    return { ...base, scores: null, noScores: read.string(node.noScores ?? '', 'noScores') };
  const scores = read.object(node.scores, 'scores');
  const type = read.string(scores.type, 'scores.type');
  if (type !== 'float32' && type !== 'float64')
    throw new StatisticsFormatError(
      path,
      `scores.type must be float32 or float64, not ${JSON.stringify(type)}`,
    );
  const runs = read.array(scores.ranking, 'scores.ranking').map((entry, c): ScoreRuns => {
    const at = `scores.ranking[${c}]`;
    const r = read.object(entry, at);
    const classId = classes.indexOf(read.string(r.class, `${at}.class`));
    if (classId < 0 || classId >= scoredClasses)
      throw new StatisticsFormatError(path, `${at}.class ${JSON.stringify(r.class)} is not a scored class`);
    const values = read.array(r.scores, `${at}.scores`);
    const n = values.length;
    const out = {
      classId,
      scores: Float64Array.from(values, (v, i) => {
        const x = read.number(v, `${at}.scores[${i}]`);
        return type === 'float32' ? Math.fround(x) : x;
      }),
      positives: Float64Array.from(read.array(r.positives, `${at}.positives`, n), (v, i) =>
        read.count(v, `${at}.positives[${i}]`),
      ),
      negatives: Float64Array.from(read.array(r.negatives, `${at}.negatives`, n), (v, i) =>
        read.count(v, `${at}.negatives[${i}]`),
      ),
    };
    for (let i = 1; i < n; i++)
      if (!(out.scores[i] < out.scores[i - 1]))
        throw new StatisticsFormatError(path, `${at}.scores are not strictly descending at ${i}`);
    return out;
  });
  return {
    ...base,
    scores: {
      float32: type === 'float32',
      lossSum: read.number(scores.logLossSum, 'scores.logLossSum'),
      runs,
    },
    noScores: '',
  };
}

/**
 * The statistics of the union of disjoint sets of rows of one task. `classes`: the class space of the result
 * (a superset of the parts'), so that every node of a merged report shares one.
 */
export function mergeStatistics(parts: readonly TaskStatistics[], classes?: string[]): TaskStatistics {
  return isClassificationStatistics(parts[0])
    ? mergeClassificationStatistics(parts as ClassificationStatistics[], classes)
    : mergeRegressionStatistics(parts as RegressionStatistics[]);
}

/** Every metric of a node and its row count; for classification also the per-class table and confusion matrix. */
export function metricsFromStatistics(s: TaskStatistics): {
  metrics: MetricValues;
  rows: number;
  notes: string[];
  classification?: ClassificationResult;
} {
  const rows = statisticsRows(s);
  if (!isClassificationStatistics(s)) return { ...regressionFromStatistics(s), rows };
  const result = classificationFromStatistics(s);
  return { metrics: result.metrics, rows, notes: result.notes, classification: result };
}

/** Typed reads of parsed JSON, each naming the field on failure (a StatisticsFormatError). */
export class JsonReader {
  constructor(private readonly path: string) {}

  private fail(field: string, what: string, value: unknown): never {
    const at = field ? `${this.path}.${field}` : this.path;
    throw new StatisticsFormatError(at, `expected ${what}, got ${JSON.stringify(value) ?? 'nothing'}`);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(field, 'an object', value);
    return value as Record<string, unknown>;
  }

  array(value: unknown, field: string, length?: number): unknown[] {
    if (!Array.isArray(value)) return this.fail(field, 'an array', value);
    if (length !== undefined && value.length !== length)
      this.fail(field, `${length} entries`, `${value.length} entries`);
    return value;
  }

  /** A finite number; null is read as NaN, which is how JSON carries the sums of invalid data. */
  number(value: unknown, field: string): number {
    if (value === null) return Number.NaN;
    if (typeof value !== 'number') this.fail(field, 'a number', value);
    return value as number;
  }

  count(value: unknown, field: string): number {
    if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0))
      this.fail(field, 'a whole number >= 0', value);
    return value as number;
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string') this.fail(field, 'a string', value);
    return value as string;
  }

  boolean(value: unknown, field: string): boolean {
    if (typeof value !== 'boolean') this.fail(field, 'true or false', value);
    return value as boolean;
  }
}
