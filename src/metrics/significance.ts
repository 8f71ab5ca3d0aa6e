/**
 * Is the candidate really different from the baseline, when both were evaluated on the same rows?
 *
 * - mcnemar: exact test on the rows where exactly one of the two models is right.
 * - pairedBootstrap / compareClassification / compareRegression: percentile interval of the difference
 *   (candidate - baseline) of every metric. A resample weights each row by a Poisson(1) count (the
 *   "Poisson bootstrap"; as n grows it is indistinguishable from multinomial resampling) and every metric is
 *   recomputed from weighted sums in O(N): no row is copied, scores are sorted once up front.
 */

import {
  accumulateClassification,
  type ClassificationInput,
  classificationFromSums,
  createClassificationSums,
  type MetricValues,
  prepareClassification,
} from './classification.js';
import { accumulateRegression, prepareRegression, regressionFromSums } from './regression.js';

// ------------------------------------------------------------------------------------------------ McNemar

export interface McNemarResult {
  /** Rows where A is right and B is wrong. */
  b: number;
  /** Rows where A is wrong and B is right. */
  c: number;
  /** min(b, c): the binomial count the exact test is on. */
  statistic: number;
  pValue: number;
  method: 'exact';
}

/** Exact McNemar test: two-sided binomial test of min(b, c) out of b + c at p = 1/2 (scipy.stats.binomtest). */
export function mcnemar(correctA: Uint8Array, correctB: Uint8Array): McNemarResult {
  if (correctA.length !== correctB.length) {
    throw new RangeError(`correctA has ${correctA.length} rows but correctB has ${correctB.length}`);
  }
  let b = 0;
  let c = 0;
  for (let i = 0; i < correctA.length; i++) {
    const a = correctA[i] !== 0;
    if (a !== (correctB[i] !== 0)) {
      if (a) b++;
      else c++;
    }
  }
  return mcnemarFromCounts(b, c);
}

/** The same test from the discordant counts alone, which add up across shards of the rows. */
export function mcnemarFromCounts(b: number, c: number): McNemarResult {
  const k = Math.min(b, c);
  return { b, c, statistic: k, pValue: binomialTwoSidedHalf(k, b + c), method: 'exact' };
}

/**
 * Two-sided p-value of k successes out of n at p = 1/2, k <= n / 2. The distribution is symmetric, so it
 * is twice the lower tail. The tail is summed relative to its largest term and only then exponentiated,
 * so n in the millions neither overflows nor loses the small p-values.
 */
function binomialTwoSidedHalf(k: number, n: number): number {
  if (2 * k >= n) return 1;
  let tail = 1;
  let term = 1;
  // pmf(j - 1) / pmf(j) = j / (n - j + 1): walk down from k until the terms stop mattering.
  for (let j = k; j > 0; j--) {
    term *= j / (n - j + 1);
    tail += term;
    if (term < tail * 1e-17) break;
  }
  return Math.min(1, 2 * Math.exp(logBinomialPmfHalf(k, n) + Math.log(tail)));
}

/** log P(X = k), X ~ Binomial(n, 1/2), by Loader's saddle-point expansion (as R's dbinom): accurate for any n. */
function logBinomialPmfHalf(k: number, n: number): number {
  if (k === 0 || k === n) return -n * Math.LN2;
  const half = n / 2;
  const lc =
    stirlingError(n) - stirlingError(k) - stirlingError(n - k) - deviance(k, half) - deviance(n - k, half);
  return lc - 0.5 * (Math.log(2 * Math.PI) + Math.log(k) + Math.log1p(-k / n));
}

/** log(n!) - log(sqrt(2 pi n) (n/e)^n) for n = 0..15 (computed with mpmath, rounded to double). */
const STIRLING_ERROR_TABLE = [
  0, 0.08106146679532726, 0.0413406959554093, 0.02767792568499834, 0.020790672103765093, 0.016644691189821193,
  0.013876128823070748, 0.01189670994589177, 0.010411265261972096, 0.009255462182712733, 0.00833056343336287,
  0.007573675487951841, 0.00694284010720953, 0.006408994188004207, 0.0059513701127588475,
  0.005554733551962801,
];

function stirlingError(n: number): number {
  if (n <= 15) return STIRLING_ERROR_TABLE[n];
  const nn = n * n;
  const [s0, s1, s2, s3, s4] = [1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188];
  if (n > 500) return (s0 - s1 / nn) / n;
  if (n > 80) return (s0 - (s1 - s2 / nn) / nn) / n;
  if (n > 35) return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n;
  return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n;
}

/** x log(x / m) + m - x without the cancellation the direct formula suffers when x is close to m. */
function deviance(x: number, m: number): number {
  if (Math.abs(x - m) < 0.1 * (x + m)) {
    let v = (x - m) / (x + m);
    let s = (x - m) * v;
    let ej = 2 * x * v;
    v *= v;
    for (let j = 1; j < 1000; j++) {
      ej *= v;
      const next = s + ej / (2 * j + 1);
      if (next === s) return next;
      s = next;
    }
    return s;
  }
  return x * Math.log(x / m) + m - x;
}

// ------------------------------------------------------------------------------------------------ random

/** P(X <= k) for X ~ Poisson(1), scaled to 2^32: a uniform 32-bit draw u gives the first k with u < CDF[k]. */
const POISSON_CDF = (() => {
  const cdf: number[] = [];
  let p = Math.exp(-1);
  let total = 0;
  // Beyond k = 20 the remaining mass (1e-19) is below one 32-bit step.
  for (let k = 0; k <= 20; k++) {
    total += p;
    cdf.push(k === 20 ? 2 ** 32 : Math.floor(total * 2 ** 32));
    p /= k + 1;
  }
  return cdf;
})();
const SLOW = 255;
const poissonCount = (draw: number) => POISSON_CDF.findIndex((c) => draw < c);
/** Poisson count by the top 12 bits of the draw; SLOW where a threshold falls inside the bucket. */
const POISSON_BY_TOP_BITS = (() => {
  const table = new Uint8Array(4096);
  for (let top = 0; top < 4096; top++) {
    const first = poissonCount(top * 2 ** 20);
    table[top] = first === poissonCount((top + 1) * 2 ** 20 - 1) ? first : SLOW;
  }
  return table;
})();

/** xoshiro128** (Blackman & Vigna): small, fast, and good enough for resampling; seeded by splitmix32. */
export class Xoshiro128 {
  private readonly state = new Int32Array(4);
  private draws = new Uint32Array(1);

  constructor(seed: number) {
    let z = seed | 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) | 0;
      let x = z;
      x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
      x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
      this.state[i] = x ^ (x >>> 15);
    }
  }

  /** Starts from a raw state, e.g. the reference implementation's test vectors. */
  static fromState(a: number, b: number, c: number, d: number): Xoshiro128 {
    const rng = new Xoshiro128(0);
    rng.state.set([a, b, c, d]);
    return rng;
  }

  nextUint32(): number {
    const one = this.draws.subarray(0, 1);
    this.fillUint32(one);
    return one[0];
  }

  /** The generator with its state in locals: this is the innermost loop of the bootstrap. */
  fillUint32(out: Uint32Array): void {
    let [a, b, c, d] = this.state;
    for (let i = 0; i < out.length; i++) {
      out[i] = Math.imul(rotl(Math.imul(b, 5), 7), 9);
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = rotl(d, 11);
    }
    this.state.set([a, b, c, d]);
  }

  /** A uniform draw in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** Fills `out` with independent Poisson(1) counts: one bootstrap resample's row weights. */
  fillPoissonOne(out: Uint8Array): void {
    // Draws go through a small buffer that stays in the L1 cache.
    const chunk = 4096;
    if (this.draws.length < chunk) this.draws = new Uint32Array(chunk);
    for (let from = 0; from < out.length; from += chunk) {
      const draws = this.draws.subarray(0, Math.min(chunk, out.length - from));
      this.fillUint32(draws);
      for (let i = 0; i < draws.length; i++) {
        const r = draws[i];
        const k = POISSON_BY_TOP_BITS[r >>> 20];
        out[from + i] = k !== SLOW ? k : poissonCount(r);
      }
    }
  }
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

// ------------------------------------------------------------------------------------------------ bootstrap

/**
 * 1000 resamples, fewer for big inputs. A resample costs one weighted pass per model and per score
 * column: about 30-40 ms for two binary models on 1M rows on one core of our machines, so 1000 would take
 * 30-40 s. The default keeps to ROW_VISIT_BUDGET row visits (1M binary rows: 100 resamples, 4-5 s with the
 * setup) and never goes below 100 (percentile endpoints then carry a Monte Carlo error of about a quarter
 * of a standard error; ask for more resamples where that matters).
 */
export const DEFAULT_RESAMPLES = 1000;
const MIN_DEFAULT_RESAMPLES = 100;
const ROW_VISIT_BUDGET = 1e8;

/** The default resample count for `rowVisits` = rows x weighted passes per resample (score columns). */
export function defaultResamples(rowVisits: number): number {
  const affordable = Math.floor(ROW_VISIT_BUDGET / Math.max(rowVisits, 1));
  return Math.max(MIN_DEFAULT_RESAMPLES, Math.min(DEFAULT_RESAMPLES, affordable));
}

export interface BootstrapOptions {
  /** Default: defaultResamples(rows x score columns), i.e. 1000 up to 100k binary rows. */
  resamples?: number;
  /** Two-sided: the interval runs from the alpha/2 to the 1 - alpha/2 percentile. Default 0.05. */
  alpha?: number;
  /** Same seed, same interval. Default 0. */
  seed?: number;
}

export interface Interval {
  /** candidate - baseline on all rows. */
  delta: number;
  low: number;
  high: number;
  /** The interval excludes 0. */
  significant: boolean;
  /** Resamples in which the metric was defined for both models (e.g. ROC AUC needs both classes). */
  resamples: number;
  method: 'paired-bootstrap';
}

export interface MetricPair {
  candidate: MetricValues;
  baseline: MetricValues;
}

/**
 * The generic engine: `evaluate` computes both models' metrics for one weighting of the rows. Returns an
 * interval for every metric defined for both models on all rows; a metric that no resample defines is
 * left out.
 */
export function pairedBootstrap(
  rows: number,
  evaluate: (weights: Uint8Array) => MetricPair,
  options: BootstrapOptions = {},
): Record<string, Interval> {
  const { resamples = defaultResamples(rows), alpha = 0.05, seed = 0 } = options;
  if (!(Number.isInteger(resamples) && resamples > 0))
    throw new RangeError(`resamples must be a positive integer`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be between 0 and 1`);
  const weights = new Uint8Array(rows).fill(1);
  const point = evaluate(weights);
  const names = Object.keys(point.candidate).filter(
    (name) => Number.isFinite(point.candidate[name]) && Number.isFinite(point.baseline[name]),
  );
  const deltas = names.map(() => new Float64Array(resamples));
  const defined = new Int32Array(names.length);
  const rng = new Xoshiro128(seed);
  for (let r = 0; r < resamples; r++) {
    rng.fillPoissonOne(weights);
    const { candidate, baseline } = evaluate(weights);
    names.forEach((name, j) => {
      const delta = (candidate[name] ?? Number.NaN) - (baseline[name] ?? Number.NaN);
      if (Number.isFinite(delta)) deltas[j][defined[j]++] = delta;
    });
  }
  const intervals: Record<string, Interval> = {};
  names.forEach((name, j) => {
    if (defined[j] === 0) return;
    const sorted = deltas[j].subarray(0, defined[j]).sort();
    const low = percentile(sorted, alpha / 2);
    const high = percentile(sorted, 1 - alpha / 2);
    intervals[name] = {
      delta: point.candidate[name]! - point.baseline[name]!,
      low,
      high,
      significant: low > 0 || high < 0,
      resamples: defined[j],
      method: 'paired-bootstrap',
    };
  });
  return intervals;
}

/** numpy's default (linear) percentile of sorted values; q in [0, 1]. */
function percentile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Both inputs must describe the same rows (same classes and yTrue); they differ in yPred and proba. */
export function compareClassification(
  candidate: ClassificationInput,
  baseline: ClassificationInput,
  options?: BootstrapOptions,
): Record<string, Interval> {
  assertSameRows(candidate.yTrue, baseline.yTrue);
  if (candidate.classes.join('\n') !== baseline.classes.join('\n')) {
    throw new RangeError('candidate and baseline must use the same classes, in the same order');
  }
  const models = [candidate, baseline].map((input) => {
    const prepared = prepareClassification(input);
    return { prepared, sums: createClassificationSums(prepared) };
  });
  const [c, b] = models.map(({ prepared, sums }) => (weights: Uint8Array) => {
    accumulateClassification(prepared, weights, sums);
    return classificationFromSums(prepared, sums, null);
  });
  const rows = candidate.yTrue.length;
  const passes = Math.max(1, ...models.map(({ prepared }) => prepared.scores?.columns.length ?? 0));
  return pairedBootstrap(rows, (w) => ({ candidate: c(w), baseline: b(w) }), {
    ...options,
    resamples: options?.resamples ?? defaultResamples(rows * passes),
  });
}

export function compareRegression(
  yTrue: Float64Array,
  candidatePred: Float64Array,
  baselinePred: Float64Array,
  options?: BootstrapOptions,
): Record<string, Interval> {
  const [c, b] = [candidatePred, baselinePred].map((yPred) => {
    const prepared = prepareRegression(yTrue, yPred);
    return (weights: Uint8Array) =>
      regressionFromSums(prepared, accumulateRegression(prepared, weights), null);
  });
  return pairedBootstrap(yTrue.length, (w) => ({ candidate: c(w), baseline: b(w) }), options);
}

function assertSameRows(a: ArrayLike<number>, b: ArrayLike<number>): void {
  let same = a.length === b.length;
  for (let i = 0; same && i < a.length; i++) same = a[i] === b[i];
  if (!same) throw new RangeError('candidate and baseline must be evaluated on the same rows (same yTrue)');
}
