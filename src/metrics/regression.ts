/**
 * Regression metrics that agree with scikit-learn 1.2.1 to 1e-9 (checked against committed fixtures).
 *
 * As in classification.ts, every metric is a function of weighted sums, so that the point estimate (unit
 * weights), the paired bootstrap (Poisson weights) and the merge of a test set's shards
 * (mergeRegressionStatistics) share one definition.
 */

import type { MetricValues } from './classification.js';

export const REGRESSION_METRICS = [
  'mae',
  'mse',
  'rmse',
  'r2',
  'mape',
  'max_error',
  'explained_variance',
] as const;

/** sklearn's MAPE divides by max(|y|, eps) with the float64 epsilon, so a zero target gives a huge ratio. */
const MAPE_EPSILON = Number.EPSILON;

/** What the metrics need to know besides the sums. */
export interface RegressionLayout {
  /** Why no metric is computed (non-finite values), or ''. */
  readonly invalid: string;
  readonly hasZeroTarget: boolean;
}

export interface PreparedRegression extends RegressionLayout {
  readonly rows: number;
  readonly yTrue: Float64Array;
  /** yPred - yTrue. */
  readonly error: Float64Array;
  /**
   * The variances behind r2 and explained_variance are summed over values centred on their full-sample
   * mean, so one weighted pass loses nothing to cancellation. For a constant series the "mean" is the
   * constant itself, which makes the centred values exact zeros: sklearn's rounded mean can leave a residue
   * of 1e-17 there and turn force_finite's zero denominator into a huge ratio.
   */
  readonly errorCentre: number;
  readonly trueCentre: number;
}

export interface RegressionSums {
  weight: number;
  absError: number;
  squaredError: number;
  relativeError: number;
  centredError: number;
  centredErrorSquared: number;
  centredTrue: number;
  centredTrueSquared: number;
  maxError: number;
}

/**
 * The sufficient statistics of a set of rows: every metric follows from them (regressionFromStatistics), and
 * those of disjoint sets of rows add up to those of their union (mergeRegressionStatistics).
 */
export interface RegressionStatistics extends RegressionSums, RegressionLayout {
  /** What the centred sums are centred on. */
  readonly errorCentre: number;
  readonly trueCentre: number;
}

export function regressionMetrics(
  yTrue: Float64Array,
  yPred: Float64Array,
): { metrics: MetricValues; notes: string[] } {
  return regressionFromStatistics(regressionStatistics(yTrue, yPred));
}

export function regressionStatistics(yTrue: Float64Array, yPred: Float64Array): RegressionStatistics {
  const prepared = prepareRegression(yTrue, yPred);
  const { invalid, hasZeroTarget, errorCentre, trueCentre } = prepared;
  const sums = accumulateRegression(prepared, new Uint8Array(prepared.rows).fill(1));
  return { ...sums, invalid, hasZeroTarget, errorCentre, trueCentre };
}

export function regressionFromStatistics(stats: RegressionStatistics): {
  metrics: MetricValues;
  notes: string[];
} {
  const notes: string[] = [];
  return { metrics: regressionFromSums(stats, stats, notes), notes };
}

/** The statistics of the union of disjoint sets of rows. */
export function mergeRegressionStatistics(parts: readonly RegressionStatistics[]): RegressionStatistics {
  const weighted = parts.filter((part) => part.weight > 0);
  const weight = weighted.reduce((n, part) => n + part.weight, 0);
  // A common centre near every part's keeps the shifted sums as exact as the parts'; equal centres (a
  // constant series) stay exactly that value, so its centred sums stay exact zeros.
  const commonCentre = (centreOf: (part: RegressionStatistics) => number) => {
    const centres = weighted.map(centreOf);
    if (centres.every((c) => c === centres[0])) return centres[0] ?? 0;
    return weighted.reduce((total, part, i) => total + part.weight * centres[i], 0) / weight;
  };
  const errorCentre = commonCentre((part) => part.errorCentre);
  const trueCentre = commonCentre((part) => part.trueCentre);
  const total = (value: (part: RegressionStatistics) => number) =>
    weighted.reduce((sum, part) => sum + value(part), 0);
  // Moving sums centred on c_i to centre c: sum(x - c) = sum(x - c_i) + w d and
  // sum((x - c)^2) = sum((x - c_i)^2) + 2 d sum(x - c_i) + w d^2, with d = c_i - c.
  const shifted = (sum: number, w: number, d: number) => sum + w * d;
  const shiftedSquares = (squares: number, sum: number, w: number, d: number) =>
    squares + 2 * d * sum + w * d * d;
  return {
    weight,
    absError: total((p) => p.absError),
    squaredError: total((p) => p.squaredError),
    relativeError: total((p) => p.relativeError),
    centredError: total((p) => shifted(p.centredError, p.weight, p.errorCentre - errorCentre)),
    centredErrorSquared: total((p) =>
      shiftedSquares(p.centredErrorSquared, p.centredError, p.weight, p.errorCentre - errorCentre),
    ),
    centredTrue: total((p) => shifted(p.centredTrue, p.weight, p.trueCentre - trueCentre)),
    centredTrueSquared: total((p) =>
      shiftedSquares(p.centredTrueSquared, p.centredTrue, p.weight, p.trueCentre - trueCentre),
    ),
    maxError: weighted.reduce((max, part) => Math.max(max, part.maxError), 0),
    invalid: parts.find((part) => part.invalid)?.invalid ?? '',
    hasZeroTarget: parts.some((part) => part.hasZeroTarget),
    errorCentre,
    trueCentre,
  };
}

export function prepareRegression(yTrue: Float64Array, yPred: Float64Array): PreparedRegression {
  const rows = yTrue.length;
  if (yPred.length !== rows) throw new RangeError(`yTrue has ${rows} rows but yPred has ${yPred.length}`);
  const error = new Float64Array(rows);
  let finite = true;
  let hasZeroTarget = false;
  for (let i = 0; i < rows; i++) {
    error[i] = yPred[i] - yTrue[i];
    finite &&= Number.isFinite(error[i]);
    hasZeroTarget ||= Math.abs(yTrue[i]) < MAPE_EPSILON;
  }
  return {
    rows,
    invalid: finite ? '' : 'y_true or y_pred contains NaN or infinite values: no metric is computed.',
    yTrue,
    error,
    errorCentre: centre(error),
    trueCentre: centre(yTrue),
    hasZeroTarget,
  };
}

function centre(values: Float64Array): number {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let total = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    total += v;
  }
  return min === max ? min : total / values.length;
}

/** The statistics of the rows weighted by `weights` (one small integer per row). */
export function accumulateRegression(prepared: PreparedRegression, weights: Uint8Array): RegressionSums {
  const { yTrue, error, errorCentre, trueCentre } = prepared;
  // Locals rather than object fields: this loop runs once per bootstrap resample over every row.
  let weight = 0;
  let absError = 0;
  let squaredError = 0;
  let relative = 0;
  let errorSum = 0;
  let errorSquares = 0;
  let trueSum = 0;
  let trueSquares = 0;
  for (let i = 0; i < error.length; i++) {
    const w = weights[i];
    const e = error[i];
    const y = yTrue[i];
    const a = Math.abs(e);
    const ce = e - errorCentre;
    const ct = y - trueCentre;
    weight += w;
    absError += w * a;
    squaredError += w * e * e;
    relative += (w * a) / Math.max(Math.abs(y), MAPE_EPSILON);
    errorSum += w * ce;
    errorSquares += w * ce * ce;
    trueSum += w * ct;
    trueSquares += w * ct * ct;
  }
  return {
    weight,
    absError,
    squaredError,
    relativeError: relative,
    centredError: errorSum,
    centredErrorSquared: errorSquares,
    centredTrue: trueSum,
    centredTrueSquared: trueSquares,
    maxError: maxWeightedError(error, weights),
  };
}

/**
 * The largest |error| among rows with weight. A loop of its own: one more accumulator in the loop above
 * costs more than a second pass, and testing the rarely true `a > max` first keeps the unpredictable test
 * of a Poisson weight off the common path.
 */
function maxWeightedError(error: Float64Array, weights: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < error.length; i++) {
    const a = Math.abs(error[i]);
    if (a > max && weights[i] > 0) max = a;
  }
  return max;
}

/** sklearn's force_finite=True: perfect predictions score 1, an imperfect fit of a constant target 0. */
export function forceFiniteScore(numerator: number, denominator: number): number {
  if (numerator === 0) return 1;
  if (denominator === 0) return 0;
  return 1 - numerator / denominator;
}

export function regressionFromSums(
  prepared: RegressionLayout,
  s: RegressionSums,
  notes: string[] | null,
): MetricValues {
  const out: MetricValues = {};
  const invalid = prepared.invalid || (s.weight === 0 ? 'There are no rows: no metric can be computed.' : '');
  if (invalid) {
    for (const name of REGRESSION_METRICS) out[name] = null;
    notes?.push(invalid);
    return out;
  }
  const n = s.weight;
  const trueSpread = s.centredTrueSquared - (s.centredTrue * s.centredTrue) / n;
  const errorMean = s.centredError / n;
  out.mae = s.absError / n;
  out.mse = s.squaredError / n;
  out.rmse = Math.sqrt(out.mse);
  // sklearn returns NaN (with a warning) for R^2 of fewer than two samples.
  out.r2 = n < 2 ? null : forceFiniteScore(s.squaredError, trueSpread);
  out.mape = s.relativeError / n;
  out.max_error = s.maxError;
  out.explained_variance = forceFiniteScore(
    s.centredErrorSquared / n - errorMean * errorMean,
    trueSpread / n,
  );
  if (notes) {
    if (n < 2) notes.push('r2 needs at least two rows (scikit-learn returns NaN).');
    if (trueSpread === 0) {
      notes.push(
        'y_true is constant: r2 and explained_variance are 1 for perfect predictions and 0 otherwise (scikit-learn force_finite).',
      );
    }
    if (prepared.hasZeroTarget) {
      notes.push(
        'y_true holds zeros: mape divides by max(|y|, 2.2e-16) as scikit-learn does, so it is huge.',
      );
    }
  }
  return out;
}
