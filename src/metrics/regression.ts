/**
 * Regression metrics that agree with scikit-learn 1.2.1 to 1e-9 (checked against committed fixtures).
 *
 * As in classification.ts, every metric is a function of weighted sums, so that the point estimate (unit
 * weights) and the paired bootstrap (Poisson weights) share one definition.
 */

import type { MetricValues } from './classification.js';

export const REGRESSION_METRICS = ['mae', 'mse', 'rmse', 'r2', 'mape', 'max_error', 'explained_variance'] as const;

/** sklearn's MAPE divides by max(|y|, eps) with the float64 epsilon, so a zero target gives a huge ratio. */
const MAPE_EPSILON = Number.EPSILON;

export interface PreparedRegression {
  readonly rows: number;
  /** Why no metric is computed (non-finite values), or ''. */
  readonly invalid: string;
  /** yPred - yTrue. */
  readonly error: Float64Array;
  readonly relativeError: Float64Array;
  /**
   * The variances behind r2 and explained_variance are taken from values centred on their full-sample
   * mean: one pass over weighted sums then loses nothing to cancellation, whatever the weights.
   */
  readonly centredError: Float64Array;
  readonly centredTrue: Float64Array;
  readonly hasZeroTarget: boolean;
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

export function regressionMetrics(yTrue: Float64Array, yPred: Float64Array): { metrics: MetricValues; notes: string[] } {
  const prepared = prepareRegression(yTrue, yPred);
  const sums = accumulateRegression(prepared, new Uint8Array(prepared.rows).fill(1));
  const notes: string[] = [];
  return { metrics: regressionFromSums(prepared, sums, notes), notes };
}

export function prepareRegression(yTrue: Float64Array, yPred: Float64Array): PreparedRegression {
  const rows = yTrue.length;
  if (yPred.length !== rows) throw new RangeError(`yTrue has ${rows} rows but yPred has ${yPred.length}`);
  const error = new Float64Array(rows);
  const relativeError = new Float64Array(rows);
  let finite = true;
  let hasZeroTarget = false;
  for (let i = 0; i < rows; i++) {
    const e = yPred[i] - yTrue[i];
    error[i] = e;
    const scale = Math.abs(yTrue[i]);
    if (scale < MAPE_EPSILON) hasZeroTarget = true;
    relativeError[i] = Math.abs(e) / Math.max(scale, MAPE_EPSILON);
    finite &&= Number.isFinite(e);
  }
  return {
    rows,
    invalid: finite ? '' : 'y_true or y_pred contains NaN or infinite values: no metric is computed.',
    error,
    relativeError,
    centredError: centred(error),
    centredTrue: centred(yTrue),
    hasZeroTarget,
  };
}

/**
 * Values minus their mean. A constant series becomes exact zeros: sklearn's rounded mean can leave a
 * residue of 1e-17 there and turn force_finite's "zero denominator" into a huge ratio.
 */
function centred(values: Float64Array): Float64Array {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let total = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    total += v;
  }
  const out = new Float64Array(values.length);
  if (min === max) return out;
  const mean = total / values.length;
  for (let i = 0; i < values.length; i++) out[i] = values[i] - mean;
  return out;
}

/** The statistics of the rows weighted by `weights` (one small integer per row). */
export function accumulateRegression(prepared: PreparedRegression, weights: Uint8Array): RegressionSums {
  const { rows, error, relativeError, centredError, centredTrue } = prepared;
  // Locals rather than object fields: this loop runs once per bootstrap resample over every row.
  let weight = 0;
  let absError = 0;
  let squaredError = 0;
  let relative = 0;
  let errorSum = 0;
  let errorSquares = 0;
  let trueSum = 0;
  let trueSquares = 0;
  let maxError = 0;
  for (let i = 0; i < rows; i++) {
    const w = weights[i];
    const e = error[i];
    const a = Math.abs(e);
    const ce = centredError[i];
    const ct = centredTrue[i];
    weight += w;
    absError += w * a;
    squaredError += w * e * e;
    relative += w * relativeError[i];
    errorSum += w * ce;
    errorSquares += w * ce * ce;
    trueSum += w * ct;
    trueSquares += w * ct * ct;
    if (w > 0 && a > maxError) maxError = a;
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
    maxError,
  };
}

/** sklearn's force_finite=True: perfect predictions score 1, an imperfect fit of a constant target 0. */
export function forceFiniteScore(numerator: number, denominator: number): number {
  if (numerator === 0) return 1;
  if (denominator === 0) return 0;
  return 1 - numerator / denominator;
}

export function regressionFromSums(
  prepared: PreparedRegression,
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
  out.explained_variance = forceFiniteScore(s.centredErrorSquared / n - errorMean * errorMean, trueSpread / n);
  if (notes) {
    if (n < 2) notes.push('r2 needs at least two rows (scikit-learn returns NaN).');
    if (trueSpread === 0) {
      notes.push(
        'y_true is constant: r2 and explained_variance are 1 for perfect predictions and 0 otherwise (scikit-learn force_finite).',
      );
    }
    if (prepared.hasZeroTarget) {
      notes.push('y_true holds zeros: mape divides by max(|y|, 2.2e-16) as scikit-learn does, so it is huge.');
    }
  }
  return out;
}
