/**
 * One metric's verdict in a canary analysis, as Kayenta's NetflixACAJudge reaches it with its
 * MannWhitneyClassifier: is the canary's metric higher or lower than the baseline's, by more than noise and
 * by more than the effect the metric is allowed?
 *
 * 1. NaNs are removed, or replaced by 0 (nanStrategy). No data on either side is Nodata, NodataFailMetric for
 *    a metric that must have data, or a pass when NaNs are replaced (a missing count means none happened).
 * 2. Identical samples, or samples that are all one value, pass.
 * 3. The shift canary - baseline gets R's wilcox.test(conf.int=TRUE, exact=FALSE, correct=TRUE) interval, the
 *    computation Kayenta's kayenta-mannwhitney module ports (rankSumShiftInterval), and the Hodges-Lehmann
 *    estimate. The canary is High when the whole interval lies above tolerance * |estimate| and the effect
 *    size reaches allowedIncrease; Low when it lies below -tolerance * |estimate| and the effect size is at
 *    most allowedDecrease. Direction says which of the two can be reported.
 * 4. A critical metric's High or Low is flagged critical (the scorer then zeroes the canary) only when the
 *    effect size is also beyond criticalIncrease or criticalDecrease.
 *
 * The effect size is the ratio of the means (Kayenta's default measure) or the common-language effect size
 * P(canary > baseline). A ratio with a zero mean on either side is NaN and, as in Kayenta, blocks neither
 * verdict: the interval alone decides.
 */

import { HODGES_LEHMANN_MAX_PAIRS, hodgesLehmann, mannWhitney, normalQuantile } from '../latency/compare.js';

export type Direction = 'increase' | 'decrease' | 'either';
export type Classification = 'Pass' | 'High' | 'Low' | 'NodataFailMetric' | 'Nodata' | 'Error';
export type EffectSizeMeasure = 'meanRatio' | 'cles';

export interface ClassifierSettings {
  /** Which change is bad: only that one is reported. */
  direction: Direction;
  /** Of the interval for the shift; default 0.95, the classifier's (NetflixACAJudge runs it at 0.98). */
  confidence?: number;
  /** Half-width of the band around 0 the interval must clear, as a fraction of |estimate|; default 0.25. */
  tolerance?: number;
  /** Effect size a High must reach: default 1 for meanRatio (any increase), 0.5 for cles. */
  allowedIncrease?: number;
  /** Effect size a Low must not exceed: default 1 for meanRatio, 0.5 for cles. */
  allowedDecrease?: number;
  critical?: boolean;
  /** Effect size a critical metric's High must reach to fail the canary; defaults as allowedIncrease. */
  criticalIncrease?: number;
  /** Effect size a critical metric's Low must not exceed to fail the canary; defaults as allowedDecrease. */
  criticalDecrease?: number;
  /** No data is NodataFailMetric (a counted failure) rather than Nodata; critical metrics stay Nodata. */
  mustHaveData?: boolean;
  /** Default 'remove'. */
  nanStrategy?: 'remove' | 'replace';
  /** Default 'meanRatio'. */
  effectSizeMeasure?: EffectSizeMeasure;
  /**
   * Where the root finder stops (R's tol.root, Kayenta's BrentSolver TOLERANCE): default 1e-4, absolute. It
   * is not scaled to the data, so on metrics of order 1e-4 or smaller the interval ends are this imprecise.
   */
  rootTolerance?: number;
}

export interface ClassifierResult {
  classification: Classification;
  reason: string;
  /** Kayenta's critical flag: with a classification other than Pass, the scorer zeroes the canary for it. */
  critical: boolean;
  /** Hodges-Lehmann shift canary - baseline: the median of all pairwise differences. */
  estimate?: number;
  /** R's and Kayenta's interval for the shift, ends found to rootTolerance: see rankSumShiftInterval. */
  interval?: [number, number];
  /** mean(canary) / mean(baseline); NaN when either mean is 0. */
  ratio?: number;
  /** P(canary > baseline) + P(tie) / 2 over all pairs. */
  cles?: number;
  /** Two-sided Mann-Whitney p-value (SciPy's asymptotic test); reported only, the interval decides. */
  pValue?: number;
  /** Values compared, after NaN handling. */
  experimentCount: number;
  controlCount: number;
}

/** The settings NetflixACAJudge gives the classifier. */
export const NETFLIX_ACA_JUDGE = { confidence: 0.98, tolerance: 0.25 } as const;

const DEFAULT_CONFIDENCE = 0.95;
const DEFAULT_TOLERANCE = 0.25;
/** R's wilcox.test tol.root and Kayenta's BrentSolver TOLERANCE. */
const ROOT_TOLERANCE = 1e-4;
const ZEROIN_MAX_ITERATIONS = 1000;
const DBL_EPSILON = 2.220446049250313e-16;

type Resolved = Required<Omit<ClassifierSettings, 'criticalIncrease' | 'criticalDecrease'>> & {
  criticalIncrease: number;
  criticalDecrease: number;
};

function resolve(settings: ClassifierSettings): Resolved {
  const {
    direction,
    confidence = DEFAULT_CONFIDENCE,
    tolerance = DEFAULT_TOLERANCE,
    critical = false,
    mustHaveData = false,
    nanStrategy = 'remove',
    effectSizeMeasure = 'meanRatio',
    rootTolerance = ROOT_TOLERANCE,
  } = settings;
  if (direction !== 'increase' && direction !== 'decrease' && direction !== 'either') {
    throw new RangeError(`direction must be increase, decrease or either, got ${direction}`);
  }
  if (!(confidence > 0 && confidence < 1))
    throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  if (!(tolerance >= 0 && Number.isFinite(tolerance))) {
    throw new RangeError(`tolerance must be a finite number >= 0, got ${tolerance}`);
  }
  if (nanStrategy !== 'remove' && nanStrategy !== 'replace') {
    throw new RangeError(`nanStrategy must be remove or replace, got ${nanStrategy}`);
  }
  if (effectSizeMeasure !== 'meanRatio' && effectSizeMeasure !== 'cles') {
    throw new RangeError(`effectSizeMeasure must be meanRatio or cles, got ${effectSizeMeasure}`);
  }
  if (!(rootTolerance > 0 && Number.isFinite(rootTolerance))) {
    throw new RangeError(`rootTolerance must be a finite number > 0, got ${rootTolerance}`);
  }
  // Kayenta's judge: an effect size of "no change", which lets any significant shift through.
  const neutral = effectSizeMeasure === 'cles' ? 0.5 : 1;
  const {
    allowedIncrease = neutral,
    allowedDecrease = neutral,
    criticalIncrease = neutral,
    criticalDecrease = neutral,
  } = settings;
  for (const [name, value] of Object.entries({
    allowedIncrease,
    allowedDecrease,
    criticalIncrease,
    criticalDecrease,
  })) {
    if (Number.isNaN(value)) throw new RangeError(`${name} must be a number, got ${value}`);
  }
  return {
    direction,
    confidence,
    tolerance,
    allowedIncrease,
    allowedDecrease,
    critical,
    criticalIncrease,
    criticalDecrease,
    mustHaveData,
    nanStrategy,
    effectSizeMeasure,
    rootTolerance,
  };
}

/**
 * Kayenta's classification of one metric, experiment (canary) against control (baseline). Bad settings throw;
 * bad data (infinite values) is an Error classification, as Kayenta's judge reports a metric it cannot
 * classify.
 */
export function classify(
  experiment: number[],
  control: number[],
  settings: ClassifierSettings,
): ClassifierResult {
  const s = resolve(settings);
  const canary = withoutNaNs(experiment, s.nanStrategy);
  const baseline = withoutNaNs(control, s.nanStrategy);
  const counts = { experimentCount: canary.length, controlCount: baseline.length };

  if (canary.length === 0 || baseline.length === 0) {
    const missing =
      canary.length === 0 && baseline.length === 0
        ? 'canary and baseline'
        : canary.length === 0
          ? 'canary'
          : 'baseline';
    if (s.nanStrategy === 'replace') {
      return {
        classification: 'Pass',
        reason: `no ${missing} data, which with NaNs replaced by 0 means nothing was counted`,
        critical: false,
        ...counts,
      };
    }
    // A critical metric without data stays Nodata but critical, which fails the canary outright in the
    // scorer; mustHaveData only turns the others into a counted failure.
    if (s.mustHaveData && !s.critical) {
      return {
        classification: 'NodataFailMetric',
        reason: `no ${missing} data for a metric that must have data`,
        critical: false,
        ...counts,
      };
    }
    return { classification: 'Nodata', reason: `no ${missing} data`, critical: s.critical, ...counts };
  }
  if (!canary.every(Number.isFinite) || !baseline.every(Number.isFinite)) {
    return {
      classification: 'Error',
      reason: 'the metric holds infinite values',
      critical: false,
      ...counts,
    };
  }

  const xs = Float64Array.from(canary).sort();
  const ys = Float64Array.from(baseline).sort();
  if (xs.length === ys.length && xs.every((v, i) => v === ys[i])) {
    return {
      classification: 'Pass',
      reason: 'canary and baseline data are identical',
      critical: false,
      ratio: 1,
      ...counts,
    };
  }
  if (xs[0] === xs[xs.length - 1] && ys[0] === ys[ys.length - 1] && xs[0] === ys[0]) {
    return {
      classification: 'Pass',
      reason: `every value is ${xs[0]}`,
      critical: false,
      ratio: 1,
      ...counts,
    };
  }

  let estimate: number;
  let interval: [number, number];
  try {
    interval = sortedShiftInterval(xs, ys, s.confidence, s.rootTolerance);
    estimate = shiftEstimate(xs, ys, s.rootTolerance);
  } catch (error) {
    return {
      classification: 'Error',
      reason: `the rank test failed: ${(error as Error).message}`,
      critical: false,
      ...counts,
    };
  }
  const test = mannWhitney({ values: xs }, { values: ys }, 'two-sided');
  const cles = test.u / (xs.length * ys.length);
  const ratio = meanRatio(canary, baseline);
  const effect = s.effectSizeMeasure === 'cles' ? cles : ratio;
  const stats = { estimate, interval, ratio, cles, pValue: test.pValue, ...counts };

  const band = s.tolerance * Math.abs(estimate);
  const effectName = s.effectSizeMeasure === 'cles' ? 'common-language effect size' : 'mean ratio';
  const level =
    `${formatNumber(100 * s.confidence)}% interval ` +
    `[${formatNumber(interval[0])}, ${formatNumber(interval[1])}]`;
  const reaches = (limit: number, high: boolean) =>
    Number.isNaN(effect) || (high ? effect >= limit : effect <= limit);
  const effectAgainst = (limit: number, verb: string) =>
    Number.isNaN(effect)
      ? `the ${effectName} is undefined (a mean is 0)`
      : `the ${effectName} ${formatNumber(effect)} ${verb} ${formatNumber(limit)}`;

  if (s.direction !== 'decrease' && interval[0] > band && reaches(s.allowedIncrease, true)) {
    const critical = s.critical && reaches(s.criticalIncrease, true);
    return {
      classification: 'High',
      reason:
        `canary is higher: the ${level} of the shift lies above +${formatNumber(band)} and ` +
        `${effectAgainst(s.allowedIncrease, 'reaches')}${critical ? ' (critical)' : ''}`,
      critical,
      ...stats,
    };
  }
  if (s.direction !== 'increase' && interval[1] < -band && reaches(s.allowedDecrease, false)) {
    const critical = s.critical && reaches(s.criticalDecrease, false);
    return {
      classification: 'Low',
      reason:
        `canary is lower: the ${level} of the shift lies below -${formatNumber(band)} and ` +
        `${effectAgainst(s.allowedDecrease, 'is at most')}${critical ? ' (critical)' : ''}`,
      critical,
      ...stats,
    };
  }
  const side =
    s.direction === 'increase' ? 'higher' : s.direction === 'decrease' ? 'lower' : 'higher or lower';
  return {
    classification: 'Pass',
    reason:
      `canary is not ${side} beyond the tolerance and allowed effect: shift ${formatNumber(estimate)}, ` +
      `${level}, ${effectName} ${formatNumber(effect)}`,
    critical: false,
    ...stats,
  };
}

function withoutNaNs(values: number[], strategy: 'remove' | 'replace'): number[] {
  return strategy === 'remove'
    ? values.filter((v) => !Number.isNaN(v))
    : values.map((v) => (Number.isNaN(v) ? 0 : v));
}

function meanRatio(canary: number[], baseline: number[]): number {
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const canaryMean = mean(canary);
  const baselineMean = mean(baseline);
  return canaryMean === 0 || baselineMean === 0 ? Number.NaN : canaryMean / baselineMean;
}

function formatNumber(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(4))) : String(value);
}

// ------------------------------------------------------------------------------------------------ interval

/**
 * R's wilcox.test(x = experiment, y = control, conf.int = TRUE, exact = FALSE, correct = TRUE)$conf.int,
 * which Kayenta's MannWhitney.scala ports. The ends are the roots in the shift d of
 *   (U(d) - n1 n2 / 2 - sign(U(d) - n1 n2 / 2) / 2) / sigma(d) = +-z,   z = qnorm(1 - (1 - confidence) / 2),
 * U(d) the Mann-Whitney count of (experiment - d, control) and sigma(d) its standard deviation with the ties
 * counted at d, found by R's zeroin (Brent's method, as uniroot) to rootTolerance. When the statistic is
 * already past the quantile at the smallest or largest difference, that difference is the end (R's rule for
 * samples too small for the level).
 *
 * How this differs from hodgesLehmann's interval: that one counts the ties of the pooled samples once, while
 * here they are recounted at each trial shift, where a value shared by both samples no longer ties (most of
 * the zeros of an error-rate metric, say); and its ends are exact order statistics of the differences, while
 * R's and Kayenta's stop within rootTolerance of them, on either side. Kayenta's verdicts depend on that: on
 * zero-inflated metrics the interval collapses towards the difference 0 and the side the root finder stops on
 * is what makes its "High Metric (Large Input)" test High. Near that tolerance the ends can even cross.
 *
 * Samples that are each a single value have the one difference as their interval, where R stops with an error
 * (and Kayenta adds noise of relative size 1e-5 first).
 */
export function rankSumShiftInterval(
  experiment: ArrayLike<number>,
  control: ArrayLike<number>,
  confidence = DEFAULT_CONFIDENCE,
  rootTolerance = ROOT_TOLERANCE,
): [number, number] {
  if (!(confidence > 0 && confidence < 1))
    throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  if (!(rootTolerance > 0 && Number.isFinite(rootTolerance))) {
    throw new RangeError(`rootTolerance must be a finite number > 0, got ${rootTolerance}`);
  }
  const xs = Float64Array.from(experiment).sort();
  const ys = Float64Array.from(control).sort();
  if (xs.length === 0 || ys.length === 0) throw new RangeError('both samples need at least one value');
  if (!xs.every(Number.isFinite) || !ys.every(Number.isFinite))
    throw new RangeError('the samples must be finite');
  return sortedShiftInterval(xs, ys, confidence, rootTolerance);
}

function sortedShiftInterval(
  xs: Float64Array,
  ys: Float64Array,
  confidence: number,
  tol: number,
): [number, number] {
  if (xs[0] === xs[xs.length - 1] && ys[0] === ys[ys.length - 1]) {
    const d = xs[0] - ys[0];
    return [d, d];
  }
  const muMin = xs[0] - ys[ys.length - 1];
  const muMax = xs[xs.length - 1] - ys[0];
  // As R and Kayenta: -qnorm(alpha/2), from the small tail, where 1 - alpha/2 would have rounded.
  const z = -normalQuantile((1 - confidence) / 2);
  const root = (quantile: number) => {
    const fLower = wilcoxonDifference(xs, ys, muMin, quantile);
    const fUpper = wilcoxonDifference(xs, ys, muMax, quantile);
    if (fLower <= 0) return muMin;
    if (fUpper >= 0) return muMax;
    return zeroin(muMin, muMax, fLower, fUpper, (mu) => wilcoxonDifference(xs, ys, mu, quantile), tol);
  };
  return [root(z), root(-z)];
}

/**
 * The Hodges-Lehmann median. Past the pairs hodgesLehmann holds in memory, Kayenta's own estimate: the root
 * of the statistic at quantile 0, which falls among the shifts around the median where it is within half a
 * pair of balance.
 */
function shiftEstimate(xs: Float64Array, ys: Float64Array, tol: number): number {
  if (distinctCount(xs) * distinctCount(ys) <= HODGES_LEHMANN_MAX_PAIRS) {
    return hodgesLehmann({ values: xs }, { values: ys }).estimate;
  }
  const muMin = xs[0] - ys[ys.length - 1];
  const muMax = xs[xs.length - 1] - ys[0];
  const f = (mu: number) => wilcoxonDifference(xs, ys, mu, 0);
  return zeroin(muMin, muMax, f(muMin), f(muMax), f, tol);
}

function distinctCount(sorted: Float64Array): number {
  let count = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) count++;
  return count;
}

/**
 * R's wdiff: the continuity-corrected, standardized Mann-Whitney statistic of (xs - mu, ys), less the
 * quantile. One merge of the sorted samples; xs - mu stays sorted because rounding is monotone. Every sum is
 * of half-integers, so it is exact and equals R's sum of ranks to the bit.
 */
function wilcoxonDifference(xs: Float64Array, ys: Float64Array, mu: number, quantile: number): number {
  const n1 = xs.length;
  const n2 = ys.length;
  let i = 0;
  let j = 0;
  let yBelow = 0;
  let u1 = 0;
  let ties = 0;
  while (i < n1 || j < n2) {
    const value = i < n1 && (j >= n2 || xs[i] - mu <= ys[j]) ? xs[i] - mu : ys[j];
    let a = 0;
    while (i < n1 && xs[i] - mu === value) {
      a++;
      i++;
    }
    let b = 0;
    while (j < n2 && ys[j] === value) {
      b++;
      j++;
    }
    u1 += a * (yBelow + b / 2);
    const t = a + b;
    ties += t * t * t - t;
    yBelow += b;
  }
  const dz = u1 - (n1 * n2) / 2;
  const n = n1 + n2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1))));
  if (sigma === 0) throw new RangeError('cannot compute confidence interval when all observations are tied');
  return (dz - Math.sign(dz) * 0.5) / sigma - quantile;
}

/**
 * R's R_zeroin2 (src/library/stats/src/zeroin.c), which uniroot calls and Kayenta's BrentSolver.java ports
 * constant for constant: a root of f in [ax, bx], given f(ax) and f(bx) of opposite signs. Kept step for
 * step, because on a step function such as wdiff the point it stops at, within tol of the jump, is the answer
 * R and Kayenta report.
 */
function zeroin(
  ax: number,
  bx: number,
  fa: number,
  fb: number,
  f: (x: number) => number,
  tol: number,
): number {
  let a = ax;
  let b = bx;
  let c = a;
  let fc = fa;
  if (fa === 0) return a;
  if (fb === 0) return b;
  for (let iteration = 0; iteration <= ZEROIN_MAX_ITERATIONS; iteration++) {
    const previousStep = b - a;
    if (Math.abs(fc) < Math.abs(fb)) {
      // b becomes the best approximation, c the other side of the bracket.
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const tolerance = 2 * DBL_EPSILON * Math.abs(b) + tol / 2;
    let step = (c - b) / 2;
    if (Math.abs(step) <= tolerance || fb === 0) return b;
    if (Math.abs(previousStep) >= tolerance && Math.abs(fa) > Math.abs(fb)) {
      // Interpolation, kept only if it lands well inside [b, c] and shrinks faster than bisection.
      const cb = c - b;
      let p: number;
      let q: number;
      if (a === c) {
        const t1 = fb / fa;
        p = cb * t1;
        q = 1 - t1;
      } else {
        q = fa / fc;
        const t1 = fb / fc;
        const t2 = fb / fa;
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1));
        q = (q - 1) * (t1 - 1) * (t2 - 1);
      }
      if (p > 0) q = -q;
      else p = -p;
      if (p < 0.75 * cb * q - Math.abs(tolerance * q) / 2 && p < Math.abs((previousStep * q) / 2))
        step = p / q;
    }
    if (Math.abs(step) < tolerance) step = step > 0 ? tolerance : -tolerance;
    a = b;
    fa = fb;
    b += step;
    fb = f(b);
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a;
      fc = fa;
    }
  }
  return b;
}
