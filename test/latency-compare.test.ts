import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type Alternative,
  betainc,
  bootstrapPercentileLaw,
  HODGES_LEHMANN_MAX_PAIRS,
  hodgesLehmann,
  independentRatio,
  mannWhitney,
  normalQuantile,
  pairedTrialRatio,
  type Weighted,
} from '../src/latency/compare.js';
import { Histogram, percentileRank } from '../src/latency/histogram.js';
import { Xoshiro128 } from '../src/metrics/significance.js';

// Reference values from SciPy 1.10.1 and numpy: scripts/fixtures/latency_reference.py.
interface Fixture {
  mannWhitney: {
    name: string;
    a: Weighted;
    b: Weighted;
    alternative: Alternative;
    u: number;
    /** A number, or '-Infinity' (JSON has no infinities). */
    z: number | string;
    pValue: number;
  }[];
  hodgesLehmann: {
    name: string;
    a: Weighted;
    b: Weighted;
    confidence: number;
    estimate: number;
    low: number;
    high: number;
  }[];
  betainc: { a: number; b: number; x: number; expected: number; exact?: number }[];
  normalQuantile: { p: number; expected: number }[];
}
const fixture: Fixture = JSON.parse(
  readFileSync(new URL('fixtures/latency/reference.json', import.meta.url), 'utf8'),
);

const named = <T>(cases: T[], name: (c: T) => string) => cases.map((c) => [name(c), c] as [string, T]);

function expectRelative(actual: number, expected: number, tolerance: number, what: string) {
  if (actual === expected) return;
  expect(Math.abs(actual - expected) / Math.abs(expected), `${what}: ${actual} vs ${expected}`).toBeLessThan(
    tolerance,
  );
}

class Random {
  private readonly rng: Xoshiro128;
  constructor(seed: number) {
    this.rng = new Xoshiro128(seed);
  }
  uniform(): number {
    return (this.rng.nextUint32() + 0.5) / 2 ** 32;
  }
  /** Box-Muller. */
  normal(): number {
    return Math.sqrt(-2 * Math.log(this.uniform())) * Math.cos(2 * Math.PI * this.uniform());
  }
  lognormal(medianMs: number, sigma: number): number {
    return medianMs * Math.exp(sigma * this.normal());
  }
}

function histogramOf(values: number[]): Histogram {
  const h = new Histogram();
  h.recordAll(values);
  return h;
}

describe('mannWhitney', () => {
  it.each(named(fixture.mannWhitney, (c) => c.name))('matches scipy.stats.mannwhitneyu: %s', (_, c) => {
    const result = mannWhitney(c.a, c.b, c.alternative);
    expectRelative(result.u, c.u, 1e-9, 'U');
    expectRelative(result.z, Number(c.z), 1e-9, 'z');
    expectRelative(result.pValue, c.pValue, 1e-9, 'p');
  });

  it('gives the same answer for raw samples and for their counts', () => {
    const random = new Random(5);
    const a = Array.from({ length: 300 }, () => Math.round(random.lognormal(20, 0.3)));
    const b = Array.from({ length: 250 }, () => Math.round(random.lognormal(21, 0.3)));
    const counted = (xs: number[]): Weighted => {
      const tally = new Map<number, number>();
      for (const x of xs) tally.set(x, (tally.get(x) ?? 0) + 1);
      return { values: [...tally.keys()], counts: [...tally.values()] };
    };
    for (const alternative of ['two-sided', 'greater', 'less'] as const) {
      const raw = mannWhitney({ values: a }, { values: b }, alternative);
      const weighted = mannWhitney(counted(a), counted(b), alternative);
      expectRelative(weighted.u, raw.u, 1e-12, 'U');
      expectRelative(weighted.pValue, raw.pValue, 1e-12, 'p');
    }
  });

  it('works from counts without expanding them', () => {
    // 2e9 values a side: expanded, these would not fit in memory.
    const n = 1e9;
    const a = { values: [1, 2], counts: [n, n] };
    const b = { values: [2, 3], counts: [n, n] };
    const result = mannWhitney(a, b, 'less');
    // U1 = pairs a > b plus half the ties: only the (2, 2) ties count, n * n of them.
    expect(result.u).toBe((n * n) / 2);
    const n1 = 2 * n;
    // Tie groups: 1 (n values), 2 (2n), 3 (n).
    const ties = 2 * (n ** 3 - n) + ((2 * n) ** 3 - 2 * n);
    const sigma = Math.sqrt(((n1 * n1) / 12) * (2 * n1 + 1 - ties / (2 * n1 * (2 * n1 - 1))));
    expectRelative(result.z, (n1 * n1 - result.u - (n1 * n1) / 2 - 0.5) / sigma, 1e-12, 'z');
    expect(result.pValue).toBe(0);
  });

  it('refuses empty samples and mismatched counts', () => {
    expect(() => mannWhitney({ values: [] }, { values: [1] }, 'less')).toThrow(RangeError);
    expect(() => mannWhitney({ values: [1, 2], counts: [0, 0] }, { values: [1] }, 'less')).toThrow(
      RangeError,
    );
    expect(() => mannWhitney({ values: [1, 2], counts: [1] }, { values: [1] }, 'less')).toThrow(RangeError);
    expect(() => mannWhitney({ values: [Number.NaN] }, { values: [1] }, 'less')).toThrow(RangeError);
  });
});

describe('hodgesLehmann', () => {
  it.each(named(fixture.hodgesLehmann, (c) => c.name))('matches the definition: %s', (_, c) => {
    const result = hodgesLehmann(c.a, c.b, c.confidence);
    expectRelative(result.estimate, c.estimate, 1e-12, 'estimate');
    expectRelative(result.low, c.low, 1e-12, 'low');
    expectRelative(result.high, c.high, 1e-12, 'high');
  });

  it('finds a 20% shift in histogram buckets', () => {
    const random = new Random(9);
    const baseline = histogramOf(Array.from({ length: 20000 }, () => random.lognormal(20, 0.1)));
    const candidate = histogramOf(Array.from({ length: 20000 }, () => random.lognormal(24, 0.1)));
    const { estimate, low, high } = hodgesLehmann(candidate.buckets(), baseline.buckets());
    expect(low).toBeLessThan(estimate);
    expect(high).toBeGreaterThan(estimate);
    expect(low).toBeGreaterThan(3.8);
    expect(high).toBeLessThan(4.2);
  });

  it('refuses more pairs than it is built for: a bug in the caller', () => {
    const side = Math.ceil(Math.sqrt(HODGES_LEHMANN_MAX_PAIRS)) + 1;
    const values = Array.from({ length: side }, (_, i) => i);
    expect(() => hodgesLehmann({ values }, { values })).toThrow(/at most 9000000 pairs/);
    expect(() => hodgesLehmann({ values: [1] }, { values: [2] }, 1)).toThrow(RangeError);
  });
});

describe('special functions', () => {
  it.each(named(fixture.betainc, (c) => `I_${c.x}(${c.a}, ${c.b})`))('betainc matches SciPy: %s', (_, c) => {
    expectRelative(betainc(c.a, c.b, c.x), c.expected, 1e-9, 'scipy');
    // Where SciPy's cephes drifts (a + b = 1e6), the exact binomial tail holds the line.
    if (c.exact !== undefined) expectRelative(betainc(c.a, c.b, c.x), c.exact, 1e-11, 'exact');
  });

  it('betainc is 0 and 1 at the ends and NaN outside its domain', () => {
    expect([betainc(2, 3, 0), betainc(2, 3, 1)]).toEqual([0, 1]);
    expect(betainc(0, 3, 0.5)).toBeNaN();
    expect(betainc(2, 3, 1.5)).toBeNaN();
  });

  it.each(named(fixture.normalQuantile, (c) => String(c.p)))(
    'normalQuantile matches norm.ppf(%s)',
    (_, c) => {
      expectRelative(normalQuantile(c.p), c.expected, 1e-12, 'ppf');
    },
  );
});

describe('bootstrapPercentileLaw', () => {
  it.each([50, 90, 100])('is the law of the p%i of a resample, checked by brute force', (p) => {
    const random = new Random(p);
    const h = histogramOf(Array.from({ length: 30 }, () => random.lognormal(20, 0.5)));
    const law = bootstrapPercentileLaw(h, p);
    const { values, counts } = h.buckets();
    const pool: number[] = [];
    counts.forEach((count, j) => {
      for (let c = 0; c < count; c++) pool.push(j);
    });
    const n = pool.length;
    const rank = percentileRank(p, n);
    const hits = new Float64Array(values.length);
    const resample = new Int32Array(n);
    const resamples = 200_000;
    for (let r = 0; r < resamples; r++) {
      for (let i = 0; i < n; i++) resample[i] = pool[Math.floor(random.uniform() * n)];
      hits[resample.sort()[rank - 1]]++;
    }
    let cumulative = 0;
    let worst = 0;
    hits.forEach((count, j) => {
      cumulative += count / resamples;
      worst = Math.max(worst, Math.abs(cumulative - law.cdf[j]));
    });
    // The Monte Carlo error of an empirical CDF from 200k draws is at most 0.0011 (one standard error).
    expect(worst).toBeLessThan(0.005);
    expect(law.cdf[law.cdf.length - 1]).toBe(1);
  });
});

describe('independentRatio', () => {
  const random = new Random(2024);
  const baseline = histogramOf(Array.from({ length: 5000 }, () => random.lognormal(20, 0.5)));
  const slower = histogramOf(Array.from({ length: 5000 }, () => 1.2 * random.lognormal(20, 0.5)));
  const same = histogramOf(Array.from({ length: 5000 }, () => random.lognormal(20, 0.5)));

  it.each([50, 95, 99])('sees a candidate slower by a fifth at p%i', (p) => {
    const r = independentRatio(slower, baseline, p);
    expect(r.method).toBe('samples');
    expect(r.resamples).toBe(2000);
    expect(r.low).toBeLessThan(1.2);
    expect(r.high).toBeGreaterThan(1.2);
    expect(r.low).toBeGreaterThan(1);
    expect(r.estimate).toBe(slower.percentile(p) / baseline.percentile(p));
  });

  it.each([50, 95, 99])('contains 1 for the same distribution at p%i', (p) => {
    const r = independentRatio(same, baseline, p);
    expect(r.low).toBeLessThanOrEqual(1);
    expect(r.high).toBeGreaterThanOrEqual(1);
  });

  it('is deterministic for a seed', () => {
    const one = independentRatio(slower, baseline, 90, { seed: 7, resamples: 500, confidence: 0.9 });
    expect(independentRatio(slower, baseline, 90, { seed: 7, resamples: 500, confidence: 0.9 })).toEqual(one);
    expect(independentRatio(slower, baseline, 90, { seed: 8, resamples: 500, confidence: 0.9 })).not.toEqual(
      one,
    );
    expect(one.confidence).toBe(0.9);
  });

  it('refuses bad options and empty histograms', () => {
    expect(() => independentRatio(slower, baseline, 101)).toThrow(RangeError);
    expect(() => independentRatio(slower, baseline, 50, { confidence: 1 })).toThrow(RangeError);
    expect(() => independentRatio(slower, baseline, 50, { resamples: 0 })).toThrow(RangeError);
    expect(() => independentRatio(new Histogram(), baseline, 50)).toThrow(RangeError);
  });
});

describe('pairedTrialRatio', () => {
  /** 20 interleaved trials during which the machine slows down by up to 95%, for both arms alike. */
  function drifting(trials = 20) {
    const random = new Random(3);
    const candidate: Histogram[] = [];
    const baseline: Histogram[] = [];
    for (let i = 0; i < trials; i++) {
      const drift = 1 + 0.05 * i;
      candidate.push(
        histogramOf(Array.from({ length: 400 }, () => 1.1 * drift * random.lognormal(10, 0.25))),
      );
      baseline.push(histogramOf(Array.from({ length: 400 }, () => drift * random.lognormal(10, 0.25))));
    }
    return { candidate, baseline };
  }

  it.each([50, 99])('cancels a drift common to both arms at p%i', (p) => {
    const { candidate, baseline } = drifting();
    const paired = pairedTrialRatio(candidate, baseline, p);
    expect(paired.method).toBe('paired-trials');
    expect(paired.low).toBeLessThan(1.1);
    expect(paired.high).toBeGreaterThan(1.1);
    expect(paired.low).toBeGreaterThan(1);
    // The same trials without their pairing (a fixed shuffle of the baseline) carry the drift into the ratio.
    const random = new Random(99);
    const shuffled = [...baseline];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random.uniform() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const unpaired = pairedTrialRatio(candidate, shuffled, p);
    expect(unpaired.estimate).toBe(paired.estimate);
    expect(unpaired.high - unpaired.low).toBeGreaterThan(3 * (paired.high - paired.low));
  });

  it('merges resampled trials exactly as Histogram.add and percentile would', () => {
    // With every trial alike, any resample's merged percentile is the single trial's: a zero-width interval.
    const random = new Random(4);
    const c = histogramOf(Array.from({ length: 333 }, () => random.lognormal(12, 0.4)));
    const b = histogramOf(Array.from({ length: 250 }, () => random.lognormal(10, 0.4)));
    for (const p of [0, 37.5, 50, 99, 100]) {
      const r = pairedTrialRatio(Array(8).fill(c), Array(8).fill(b), p, { resamples: 200 });
      expect([r.low, r.high]).toEqual([r.estimate, r.estimate]);
      expect(r.estimate).toBe(c.percentile(p) / b.percentile(p));
    }
  });

  it('falls back to the samples method below 5 pairs', () => {
    const { candidate, baseline } = drifting(4);
    const r = pairedTrialRatio(candidate, baseline, 50);
    expect(r.method).toBe('samples');
    const all = (hs: Histogram[]) => {
      const h = new Histogram();
      for (const x of hs) h.add(x);
      return h;
    };
    expect(r).toEqual(independentRatio(all(candidate), all(baseline), 50));
  });

  it('is deterministic for a seed', () => {
    const { candidate, baseline } = drifting(6);
    const one = pairedTrialRatio(candidate, baseline, 95, { seed: 3, resamples: 300 });
    expect(pairedTrialRatio(candidate, baseline, 95, { seed: 3, resamples: 300 })).toEqual(one);
    expect(pairedTrialRatio(candidate, baseline, 95, { seed: 4, resamples: 300 })).not.toEqual(one);
    expect(one.resamples).toBe(300);
  });

  it('refuses unpaired or mismatched trials', () => {
    const { candidate, baseline } = drifting(6);
    expect(() => pairedTrialRatio(candidate, baseline.slice(1), 50)).toThrow(RangeError);
    expect(() => pairedTrialRatio([], [], 50)).toThrow(RangeError);
    const other = [...baseline];
    other[2] = new Histogram({ significantDigits: 2 });
    expect(() => pairedTrialRatio(candidate, other, 50)).toThrow(/one layout/);
  });
});
