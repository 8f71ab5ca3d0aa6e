/**
 * A high-dynamic-range latency histogram with HdrHistogram's bucket layout (Gil Tene's design; written from
 * its documentation). Values are counted in integer units of `lowestMs`: exactly below 2 * 10^digits units,
 * then in log-linear buckets whose width is at most 1 / 2^ceil(log2(10^digits)) of the values they hold. So:
 *
 *   - at or above lowestMs * 10^significantDigits, a reported value is within a relative 10^-significantDigits
 *     of the recorded one;
 *   - below that, within lowestMs (absolute).
 *
 * Count, min, max, sum and sum of squares are kept exactly, so mean, standard deviation, min and max do not
 * depend on the bucketing; percentiles do.
 */

import { ConfigurationError } from '../errors.js';

export interface HistogramOptions {
  /** The unit values are counted in; default 0.001 (1 µs). */
  lowestMs?: number;
  /** Larger values are recorded as this one and counted in `clamped`; default 3_600_000 (1 hour). */
  highestMs?: number;
  /** 1..5, default 3 (0.1%). */
  significantDigits?: number;
}

export interface HistogramJSON {
  version: 1;
  lowestMs: number;
  highestMs: number;
  significantDigits: number;
  count: number;
  /** 0 when count is 0, as are maxMs and the sums. */
  minMs: number;
  maxMs: number;
  sumMs: number;
  sumSquaresMs: number;
  clamped: number;
  /** Non-empty buckets only, by ascending index. */
  buckets: [index: number, count: number][];
}

/** Units up to 2^52 keep every integer unit and every bucket boundary exact in a double. */
const MAX_UNITS = 2 ** 52;
const TWO_32 = 2 ** 32;

/** The bucket geometry for one (lowestMs, highestMs, significantDigits). */
interface Layout {
  lowestMs: number;
  highestMs: number;
  significantDigits: number;
  /** 1 / lowestMs: multiplying by an integer is exact where dividing by 0.001 is not (0.003 / 0.001 < 3). */
  unitsPerMs: number;
  /** log2 of the number of sub-buckets in each bucket after the first, which has twice as many. */
  halfMagnitude: number;
  halfCount: number;
  /** Bucket 0 holds single units below this. */
  subBucketCount: number;
  length: number;
}

function layoutProblem(lowestMs: number, highestMs: number, significantDigits: number): string | undefined {
  if (!(Number.isFinite(lowestMs) && lowestMs > 0))
    return `lowestMs must be a positive number, got ${lowestMs}`;
  if (!(Number.isFinite(highestMs) && highestMs >= 2 * lowestMs)) {
    return `highestMs must be a number at least twice lowestMs (${lowestMs}), got ${highestMs}`;
  }
  if (highestMs / lowestMs > MAX_UNITS) {
    return `highestMs / lowestMs must be at most 2^52, got ${highestMs} / ${lowestMs}`;
  }
  if (!(Number.isInteger(significantDigits) && significantDigits >= 1 && significantDigits <= 5)) {
    return `significantDigits must be an integer from 1 to 5, got ${significantDigits}`;
  }
  return undefined;
}

function makeLayout(lowestMs: number, highestMs: number, significantDigits: number): Layout {
  const unitsPerMs = 1 / lowestMs;
  const highestUnits = Math.floor(highestMs * unitsPerMs);
  const magnitude = Math.ceil(Math.log2(2 * 10 ** significantDigits));
  const subBucketCount = 2 ** magnitude;
  const halfCount = subBucketCount / 2;
  // Bucket b >= 1 covers [halfCount * 2^b, subBucketCount * 2^b) in steps of 2^b.
  let buckets = 1;
  for (let limit = subBucketCount; limit <= highestUnits; limit *= 2) buckets++;
  return {
    lowestMs,
    highestMs,
    significantDigits,
    unitsPerMs,
    halfMagnitude: magnitude - 1,
    halfCount,
    subBucketCount,
    length: (buckets + 1) * halfCount,
  };
}

/** 2^-b for every bucket b, so that the hot path multiplies instead of computing a power. */
const INVERSE_POWERS = Float64Array.from({ length: 64 }, (_, b) => 2 ** -b);

/**
 * The rank (1-based) of the p-th percentile of `count` values: ceil(p/100 * count), at least 1. The product
 * is formed as p * count / 100 and snapped when within 1e-12 of an integer, so that 99.9% of 20000 is rank
 * 19980 as written, not 19981 as (99.9 / 100) * 20000 = 19980.000000000004 would give.
 */
export function percentileRank(p: number, count: number): number {
  const exact = (p * count) / 100;
  const nearest = Math.round(exact);
  const rank = Math.abs(exact - nearest) <= exact * 1e-12 ? nearest : Math.ceil(exact);
  return Math.min(count, Math.max(1, rank));
}

export class Histogram {
  private readonly layout: Layout;
  private readonly counts: Float64Array;
  private total = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private maxValue = Number.NEGATIVE_INFINITY;
  private sum = 0;
  private sumSquares = 0;
  private clampedCount = 0;

  constructor(options: HistogramOptions = {}) {
    const { lowestMs = 0.001, highestMs = 3_600_000, significantDigits = 3 } = options;
    const problem = layoutProblem(lowestMs, highestMs, significantDigits);
    if (problem) throw new RangeError(problem);
    this.layout = makeLayout(lowestMs, highestMs, significantDigits);
    this.counts = new Float64Array(this.layout.length);
  }

  get lowestMs(): number {
    return this.layout.lowestMs;
  }

  get highestMs(): number {
    return this.layout.highestMs;
  }

  get significantDigits(): number {
    return this.layout.significantDigits;
  }

  get count(): number {
    return this.total;
  }

  /** Values above highestMs, recorded as highestMs. */
  get clamped(): number {
    return this.clampedCount;
  }

  /** NaN when empty, as are max, mean and stdev. */
  get min(): number {
    return this.total > 0 ? this.minValue : Number.NaN;
  }

  get max(): number {
    return this.total > 0 ? this.maxValue : Number.NaN;
  }

  get mean(): number {
    return this.total > 0 ? this.sum / this.total : Number.NaN;
  }

  /** Population standard deviation. */
  get stdev(): number {
    if (this.total === 0) return Number.NaN;
    const mean = this.sum / this.total;
    // Rounding can take E[x^2] - mean^2 a hair below zero when every value is the same.
    return Math.sqrt(Math.max(0, this.sumSquares / this.total - mean * mean));
  }

  /** Negative or NaN values are a bug in the caller (a clock that went backwards), not data. */
  record(ms: number, count = 1): void {
    if (!(ms >= 0)) throw new RangeError(`a latency must be a non-negative number, got ${ms}`);
    if (count !== 1 && !(Number.isSafeInteger(count) && count >= 0)) {
      throw new RangeError(`a count must be a non-negative integer, got ${count}`);
    }
    const layout = this.layout;
    if (ms > layout.highestMs) {
      ms = layout.highestMs;
      this.clampedCount += count;
    }
    this.counts[indexOfUnits(layout, Math.floor(ms * layout.unitsPerMs))] += count;
    this.total += count;
    this.sum += ms * count;
    this.sumSquares += ms * ms * count;
    if (ms < this.minValue) this.minValue = ms;
    if (ms > this.maxValue) this.maxValue = ms;
  }

  recordAll(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) this.record(values[i]);
  }

  /**
   * The highest value equivalent to the bucket holding the value of rank ceil(p/100 * count), kept within
   * [min, max]; percentile(100) is the exact max. NaN when empty.
   */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) throw new RangeError(`a percentile must be between 0 and 100, got ${p}`);
    if (this.total === 0) return Number.NaN;
    if (p === 100) return this.maxValue;
    const rank = percentileRank(p, this.total);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return this.clampToRange(this.highestEquivalentMs(i));
    }
    return this.maxValue;
  }

  /** Adds another histogram's values; both must have the same lowestMs, highestMs and significantDigits. */
  add(other: Histogram): void {
    if (!this.sameLayout(other)) {
      const describe = (h: Histogram) => `${h.lowestMs}..${h.highestMs} ms, ${h.significantDigits} digits`;
      throw new RangeError(`cannot add a histogram of ${describe(other)} to one of ${describe(this)}`);
    }
    if (other.total === 0) return;
    const counts = this.counts;
    const theirs = other.counts;
    for (let i = 0; i < theirs.length; i++) if (theirs[i] !== 0) counts[i] += theirs[i];
    this.total += other.total;
    this.sum += other.sum;
    this.sumSquares += other.sumSquares;
    this.clampedCount += other.clampedCount;
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
  }

  sameLayout(other: Histogram): boolean {
    return (
      this.layout.lowestMs === other.layout.lowestMs &&
      this.layout.highestMs === other.layout.highestMs &&
      this.layout.significantDigits === other.layout.significantDigits
    );
  }

  /**
   * Bucket representative values (ascending) and counts: what statistics on a stored histogram work from.
   * A bucket's value is the one percentile() reports for it (its highest equivalent value within [min, max]),
   * so the p-th inverted-CDF percentile of these weighted values is percentile(p). `indices` are the
   * buckets' positions in the layout, for merging histograms of the same layout without expanding them.
   */
  buckets(): { values: Float64Array; counts: Float64Array; indices: Int32Array } {
    let filled = 0;
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i] !== 0) filled++;
    const values = new Float64Array(filled);
    const counts = new Float64Array(filled);
    const indices = new Int32Array(filled);
    let k = 0;
    for (let i = 0; i < this.counts.length; i++) {
      if (this.counts[i] === 0) continue;
      values[k] = this.clampToRange(this.highestEquivalentMs(i));
      counts[k] = this.counts[i];
      indices[k++] = i;
    }
    return { values, counts, indices };
  }

  /** The highest value bucket `index` stands for, before percentile() keeps it within [min, max]. */
  highestEquivalentMs(index: number): number {
    const { halfCount, subBucketCount, unitsPerMs } = this.layout;
    if (index < subBucketCount) return index / unitsPerMs;
    const bucket = Math.floor(index / halfCount) - 1;
    const width = 2 ** bucket;
    return ((index - bucket * halfCount) * width + width - 1) / unitsPerMs;
  }

  toJSON(): HistogramJSON {
    const { counts, indices } = this.buckets();
    const empty = this.total === 0;
    return {
      version: 1,
      lowestMs: this.layout.lowestMs,
      highestMs: this.layout.highestMs,
      significantDigits: this.layout.significantDigits,
      count: this.total,
      minMs: empty ? 0 : this.minValue,
      maxMs: empty ? 0 : this.maxValue,
      sumMs: this.sum,
      sumSquaresMs: this.sumSquares,
      clamped: this.clampedCount,
      buckets: Array.from(indices, (index, k) => [index, counts[k]] as [number, number]),
    };
  }

  /**
   * Reads a histogram stored by toJSON (typically in a baseline report), checking everything: a stored file
   * may have been edited by hand or written by another version. `where` names it in the error, e.g.
   * 'baseline-report details.levels[0].histogram'.
   */
  static fromJSON(json: unknown, where: string): Histogram {
    const fail = (message: string): never => {
      throw new ConfigurationError(`not a valid latency histogram: ${message}`, where);
    };
    if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('expected an object');
    const o = json as Record<string, unknown>;
    if (o.version !== 1) fail(`version must be 1, got ${JSON.stringify(o.version)}`);
    const number = (key: string): number => {
      const v = o[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${key} must be a finite number`);
      return v as number;
    };
    const lowestMs = number('lowestMs');
    const highestMs = number('highestMs');
    const significantDigits = number('significantDigits');
    const problem = layoutProblem(lowestMs, highestMs, significantDigits);
    if (problem) fail(problem);
    const count = number('count');
    if (!(Number.isSafeInteger(count) && count >= 0))
      fail(`count must be a non-negative integer, got ${count}`);
    const minMs = number('minMs');
    const maxMs = number('maxMs');
    const sumMs = number('sumMs');
    const sumSquaresMs = number('sumSquaresMs');
    if (sumMs < 0 || sumSquaresMs < 0) fail('sumMs and sumSquaresMs must not be negative');
    const clamped = number('clamped');
    if (!(Number.isSafeInteger(clamped) && clamped >= 0 && clamped <= count)) {
      fail(`clamped must be an integer from 0 to count (${count}), got ${clamped}`);
    }
    if (!Array.isArray(o.buckets)) fail('buckets must be an array of [index, count] pairs');

    const histogram = new Histogram({ lowestMs, highestMs, significantDigits });
    const { length } = histogram.layout;
    let total = 0;
    let first = length;
    let last = -1;
    (o.buckets as unknown[]).forEach((entry, k) => {
      const at = `buckets[${k}]`;
      if (!Array.isArray(entry) || entry.length !== 2) fail(`${at} must be an [index, count] pair`);
      const [index, n] = entry as unknown[];
      if (!(typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < length)) {
        fail(
          `${at}: index ${JSON.stringify(index)} is not an integer from 0 to ${length - 1} in this layout`,
        );
      }
      if (!(typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) {
        fail(`${at}: count ${JSON.stringify(n)} is not a non-negative integer`);
      }
      const i = index as number;
      if (histogram.counts[i] !== 0) fail(`${at}: index ${i} appears twice`);
      histogram.counts[i] = n as number;
      total += n as number;
      if ((n as number) > 0) {
        first = Math.min(first, i);
        last = Math.max(last, i);
      }
    });
    if (total !== count) fail(`the bucket counts add up to ${total} but count is ${count}`);
    if (count > 0) {
      // min and max are what percentile(0) and percentile(100) report: they must lie in the end buckets.
      if (!(minMs >= 0 && minMs <= maxMs && maxMs <= highestMs)) {
        fail(`minMs (${minMs}) and maxMs (${maxMs}) must satisfy 0 <= minMs <= maxMs <= highestMs`);
      }
      const { layout } = histogram;
      if (indexOfUnits(layout, Math.floor(minMs * layout.unitsPerMs)) !== first) {
        fail(`minMs (${minMs}) is not in the lowest non-empty bucket`);
      }
      if (indexOfUnits(layout, Math.floor(maxMs * layout.unitsPerMs)) !== last) {
        fail(`maxMs (${maxMs}) is not in the highest non-empty bucket`);
      }
      if (clamped > 0 && maxMs !== highestMs)
        fail(`clamped values were recorded as highestMs, but maxMs is ${maxMs}`);
      histogram.minValue = minMs;
      histogram.maxValue = maxMs;
    }
    histogram.total = count;
    histogram.sum = sumMs;
    histogram.sumSquares = sumSquaresMs;
    histogram.clampedCount = clamped;
    return histogram;
  }

  private clampToRange(ms: number): number {
    return Math.min(this.maxValue, Math.max(this.minValue, ms));
  }
}

/** The bucket of a value in integer units: bucket 0 holds units one by one, bucket b >= 1 by steps of 2^b. */
function indexOfUnits(layout: Layout, units: number): number {
  if (units < layout.subBucketCount) return units;
  // Highest set bit, in two 32-bit halves since units go up to 2^52.
  const msb = units < TWO_32 ? 31 - Math.clz32(units) : 63 - Math.clz32(units / TWO_32);
  const bucket = msb - layout.halfMagnitude;
  return bucket * layout.halfCount + Math.floor(units * INVERSE_POWERS[bucket]);
}
