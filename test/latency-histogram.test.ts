import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import { Histogram, type HistogramJSON, percentileRank } from '../src/latency/histogram.js';
import { Xoshiro128 } from '../src/metrics/significance.js';

// numpy.percentile(method='inverted_cdf') on a lognormal sample: scripts/fixtures/latency_reference.py.
interface Fixture {
  histogram: { lognormal: { values: number[]; percentiles: { p: number; expected: number }[] } };
}
const fixture: Fixture = JSON.parse(
  readFileSync(new URL('fixtures/latency/reference.json', import.meta.url), 'utf8'),
);

/** The histogram's values one by one, ascending: what its percentiles are read from. */
function expand(h: Histogram): number[] {
  const { values, counts } = h.buckets();
  const out: number[] = [];
  values.forEach((v, k) => {
    for (let c = 0; c < counts[k]; c++) out.push(v);
  });
  return out;
}

const uniform = (rng: Xoshiro128) => (rng.nextUint32() + 0.5) / 2 ** 32;

describe('Histogram precision', () => {
  it.each([1, 2, 3, 4, 5])('keeps a relative error below 10^-%i over 9 decades', (digits) => {
    // The relative bound holds from lowestMs * 10^digits up: put that at 1 µs and sweep 1 µs .. 1000 s.
    const lowestMs = 10 ** -(digits + 3);
    const h = new Histogram({ lowestMs, highestMs: 1e7, significantDigits: digits });
    const rng = new Xoshiro128(digits);
    const values: number[] = [];
    for (let i = 0; i <= 20000; i++) {
      // A geometric grid, jittered so that values land anywhere inside their buckets.
      values.push(1e-3 * 10 ** ((9 * (i + uniform(rng))) / 20001));
    }
    values.push(1e-3, 1e6);
    h.recordAll(values);
    values.sort((x, y) => x - y);
    const reported = expand(h);
    expect(reported).toHaveLength(values.length);
    let worst = 0;
    values.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(reported[i] - v) / v);
    });
    expect(worst).toBeLessThan(10 ** -digits);
    expect(worst).toBeGreaterThan(0);
  });

  it('is within lowestMs below lowestMs * 10^digits', () => {
    const h = new Histogram();
    const rng = new Xoshiro128(7);
    const values = Array.from({ length: 5000 }, () => uniform(rng));
    h.recordAll(values);
    values.sort((x, y) => x - y);
    const reported = expand(h);
    values.forEach((v, i) => {
      expect(Math.abs(reported[i] - v)).toBeLessThan(0.001);
    });
  });

  it('counts 0.003 ms at 1 µs units as 3 units, not 2.9999999999999996', () => {
    const h = new Histogram();
    h.record(0.003);
    h.record(0.01);
    // 0.003 is the minimum and sits alone in its bucket, whose value would be 0.002 if it had been floored.
    expect(h.buckets().values[0]).toBe(0.003);
    expect(h.toJSON().buckets[0][0]).toBe(3);
  });
});

describe('Histogram statistics', () => {
  it('gives the percentiles of 1..10000 ms', () => {
    const h = new Histogram();
    for (let v = 1; v <= 10000; v++) h.record(v);
    expect(h.count).toBe(10000);
    expect(h.min).toBe(1);
    expect(h.max).toBe(10000);
    expect(h.mean).toBe(5000.5);
    expect(h.stdev).toBeCloseTo(Math.sqrt((10000 ** 2 - 1) / 12), 9);
    expect(Math.abs(h.percentile(50) - 5000) / 5000).toBeLessThanOrEqual(1e-3);
    expect(h.percentile(50)).toBeGreaterThanOrEqual(5000);
    expect(Math.abs(h.percentile(99.9) - 9990) / 9990).toBeLessThanOrEqual(1e-3);
    expect(Math.abs(h.percentile(99) - 9900) / 9900).toBeLessThanOrEqual(1e-3);
    expect(h.percentile(100)).toBe(10000);
    expect(h.percentile(0)).toBe(1);
    // Below 2048 units (2.048 ms) every microsecond has its own bucket.
    expect(h.percentile(0.01)).toBe(1);
    expect(h.percentile(0.02)).toBe(2);
    expect(h.percentile(0.05)).toBeCloseTo(5.003, 9);
  });

  it('agrees with numpy inverted_cdf percentiles within the relative error', () => {
    const { values, percentiles } = fixture.histogram.lognormal;
    const h = new Histogram();
    h.recordAll(values);
    for (const { p, expected } of percentiles) {
      const actual = h.percentile(p);
      expect(Math.abs(actual - expected) / expected, `p${p}`).toBeLessThanOrEqual(1e-3);
    }
    expect(h.percentile(0)).toBe(Math.min(...values));
    expect(h.percentile(100)).toBe(Math.max(...values));
  });

  it('keeps mean and standard deviation exact', () => {
    const { values } = fixture.histogram.lognormal;
    const h = new Histogram();
    h.recordAll(values);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
    expect(h.mean).toBeCloseTo(mean, 10);
    expect(Math.abs(h.stdev - Math.sqrt(variance)) / Math.sqrt(variance)).toBeLessThan(1e-10);
  });

  it('reads percentiles off buckets(): the inverted CDF of the bucket values', () => {
    const { values } = fixture.histogram.lognormal;
    const h = new Histogram();
    h.recordAll(values);
    const all = expand(h);
    for (const p of [0, 0.1, 5, 33.3, 50, 87.5, 99.95, 100]) {
      expect(h.percentile(p)).toBe(all[percentileRank(p, all.length) - 1]);
    }
  });

  it('takes the rank of the percentile as written', () => {
    expect(percentileRank(99.9, 20000)).toBe(19980);
    expect(percentileRank(50, 3)).toBe(2);
    expect(percentileRank(0, 10)).toBe(1);
    expect(percentileRank(100, 10)).toBe(10);
    expect(percentileRank(0.001, 10)).toBe(1);
  });

  it('records a count at once', () => {
    const once = new Histogram();
    once.record(12.5, 3);
    once.record(40);
    const oneByOne = new Histogram();
    oneByOne.recordAll([12.5, 12.5, 40, 12.5]);
    expect(once.toJSON()).toEqual(oneByOne.toJSON());
    expect(() => once.record(1, -1)).toThrow(RangeError);
    expect(() => once.record(1, 0.5)).toThrow(RangeError);
  });

  it('refuses negative and NaN values as bugs', () => {
    const h = new Histogram();
    expect(() => h.record(-0.001)).toThrow(RangeError);
    expect(() => h.record(Number.NaN)).toThrow(RangeError);
    expect(() => h.recordAll([1, Number.NaN])).toThrow(RangeError);
    expect(() => h.percentile(101)).toThrow(RangeError);
    expect(() => new Histogram({ significantDigits: 6 })).toThrow(RangeError);
    expect(() => new Histogram({ lowestMs: 1, highestMs: 1.5 })).toThrow(RangeError);
  });

  it('is NaN all over when empty', () => {
    const h = new Histogram();
    expect([h.count, h.min, h.max, h.mean, h.stdev, h.percentile(50)]).toEqual([
      0,
      Number.NaN,
      Number.NaN,
      Number.NaN,
      Number.NaN,
      Number.NaN,
    ]);
  });

  it('clamps values above highestMs and counts them', () => {
    const h = new Histogram({ highestMs: 1000 });
    h.recordAll([5, 2000, Number.POSITIVE_INFINITY, 999]);
    expect(h.clamped).toBe(2);
    expect(h.max).toBe(1000);
    expect(h.percentile(100)).toBe(1000);
    expect(h.percentile(75)).toBe(1000);
    expect(h.mean).toBe((5 + 1000 + 1000 + 999) / 4);
    expect(h.toJSON().clamped).toBe(2);
  });
});

describe('Histogram.add', () => {
  it('merges like recording everything in one', () => {
    const { values } = fixture.histogram.lognormal;
    const all = new Histogram();
    all.recordAll(values);
    const first = new Histogram();
    const second = new Histogram();
    first.recordAll(values.slice(0, 7000));
    second.recordAll(values.slice(7000));
    second.record(1e9);
    all.record(1e9);
    first.add(second);
    const [a, b] = [first.toJSON(), all.toJSON()];
    expect(a.buckets).toEqual(b.buckets);
    expect([a.count, a.minMs, a.maxMs, a.clamped]).toEqual([b.count, b.minMs, b.maxMs, b.clamped]);
    expect(a.sumMs).toBeCloseTo(b.sumMs, 6);
    expect(first.percentile(99)).toBe(all.percentile(99));
    first.add(new Histogram());
    expect(first.count).toBe(all.count);
  });

  it('refuses another layout', () => {
    const h = new Histogram();
    expect(() => h.add(new Histogram({ significantDigits: 2 }))).toThrow(RangeError);
    expect(() => h.add(new Histogram({ highestMs: 60_000 }))).toThrow(/cannot add/);
  });
});

describe('Histogram JSON', () => {
  const where = 'baseline-report details.levels[0].histogram';

  function sample(): Histogram {
    const h = new Histogram({ highestMs: 100 });
    h.recordAll(fixture.histogram.lognormal.values.slice(0, 2000));
    return h;
  }

  it('round-trips through JSON text', () => {
    const h = sample();
    const json = h.toJSON();
    expect(json.buckets.every(([, c]) => c > 0)).toBe(true);
    expect(json.buckets.map(([i]) => i)).toEqual([...json.buckets.map(([i]) => i)].sort((x, y) => x - y));
    const back = Histogram.fromJSON(JSON.parse(JSON.stringify(json)), where);
    expect(back.toJSON()).toEqual(json);
    for (const p of [0, 50, 90, 99, 100]) expect(back.percentile(p)).toBe(h.percentile(p));
    expect([back.mean, back.stdev, back.min, back.max, back.clamped]).toEqual([
      h.mean,
      h.stdev,
      h.min,
      h.max,
      h.clamped,
    ]);
    expect(h.clamped).toBeGreaterThan(0);
  });

  it('round-trips an empty histogram', () => {
    const back = Histogram.fromJSON(JSON.parse(JSON.stringify(new Histogram())), where);
    expect(back.count).toBe(0);
    expect(back.percentile(50)).toBeNaN();
  });

  const refusals: [string, (j: HistogramJSON) => unknown, RegExp][] = [
    ['not an object', () => [1, 2], /expected an object/],
    ['another version', (j) => ({ ...j, version: 2 }), /version must be 1, got 2/],
    ['no layout', (j) => ({ ...j, lowestMs: undefined }), /lowestMs must be a finite number/],
    [
      'an impossible layout',
      (j) => ({ ...j, significantDigits: 7 }),
      /significantDigits must be an integer from 1 to 5/,
    ],
    [
      'a layout upside down',
      (j) => ({ ...j, highestMs: j.lowestMs }),
      /highestMs must be a number at least twice/,
    ],
    [
      'a negative count',
      (j) => ({ ...j, buckets: j.buckets.map(([i, c], k) => [i, k === 0 ? -c : c]) }),
      /buckets\[0\]: count -\d+ is not a non-negative integer/,
    ],
    ['a fractional count', (j) => ({ ...j, buckets: [[j.buckets[0][0], 0.5]] }), /count 0.5 is not/],
    [
      'an index out of range',
      (j) => ({ ...j, buckets: [...j.buckets, [10_000_000, 1]], count: j.count + 1 }),
      /index 10000000 is not an integer from 0 to \d+ in this layout/,
    ],
    [
      'a malformed bucket',
      (j) => ({ ...j, buckets: [[1, 2, 3]] }),
      /buckets\[0\] must be an \[index, count\] pair/,
    ],
    ['a repeated index', (j) => ({ ...j, buckets: [j.buckets[0], j.buckets[0]] }), /appears twice/],
    [
      'a count mismatch',
      (j) => ({ ...j, count: j.count + 1 }),
      /bucket counts add up to \d+ but count is \d+/,
    ],
    [
      'a min outside its bucket',
      (j) => ({ ...j, minMs: j.minMs / 2 }),
      /minMs .* is not in the lowest non-empty bucket/,
    ],
    [
      'a max outside its bucket',
      (j) => ({ ...j, maxMs: j.maxMs * 0.9 }),
      /maxMs .* is not in the highest non-empty/,
    ],
    ['min above max', (j) => ({ ...j, minMs: j.maxMs + 1 }), /0 <= minMs <= maxMs <= highestMs/],
    [
      'more clamped than counted',
      (j) => ({ ...j, clamped: j.count + 1 }),
      /clamped must be an integer from 0 to count/,
    ],
    ['a negative sum', (j) => ({ ...j, sumMs: -1 }), /must not be negative/],
    ['a missing bucket list', (j) => ({ ...j, buckets: null }), /buckets must be an array/],
  ];

  it.each(refusals)('refuses %s, naming where and what', (_, mutate, message) => {
    const json = mutate(sample().toJSON());
    let error: unknown;
    try {
      Histogram.fromJSON(json, where);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).where).toBe(where);
    expect((error as Error).message).toContain(where);
    expect((error as Error).message).toMatch(message);
  });
});
