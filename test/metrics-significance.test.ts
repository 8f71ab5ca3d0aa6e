import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type ClassificationInput,
  compareClassification,
  compareRegression,
  defaultResamples,
  mcnemar,
  pairedBootstrap,
  Xoshiro128,
} from '../src/metrics/index.js';

// Reference values from SciPy 1.10.1: scripts/fixtures/metrics_reference.py.
const fixture: {
  mcnemar: { b: number; c: number; pValue: number }[];
  bootstrap: {
    yTrue: number[];
    yPredCandidate: number[];
    yPredBaseline: number[];
    delta: number;
    low: number;
    high: number;
  };
} = JSON.parse(readFileSync(new URL('fixtures/metrics/significance.json', import.meta.url), 'utf8'));

/** Two models' correctness with b rows where only A is right, c where only B is, and some agreement. */
function discordant(b: number, c: number): [Uint8Array, Uint8Array] {
  const n = b + c + 10;
  const a = new Uint8Array(n);
  const bb = new Uint8Array(n);
  a.fill(1, 0, b);
  bb.fill(1, b, b + c);
  a.fill(1, b + c, b + c + 5);
  bb.fill(1, b + c, b + c + 5);
  return [a, bb];
}

describe('mcnemar', () => {
  it.each(fixture.mcnemar.map((m) => [`b=${m.b} c=${m.c}`, m] as const))(
    'matches scipy binomtest: %s',
    (_, m) => {
      const result = mcnemar(...discordant(m.b, m.c));
      expect(result).toMatchObject({ b: m.b, c: m.c, statistic: Math.min(m.b, m.c), method: 'exact' });
      if (m.pValue === 0) expect(result.pValue).toBeLessThan(1e-300);
      else
        expect(Math.abs(result.pValue - m.pValue) / m.pValue, `${result.pValue} vs ${m.pValue}`).toBeLessThan(
          1e-9,
        );
    },
  );

  it('rejects arrays of different lengths', () => {
    expect(() => mcnemar(new Uint8Array(2), new Uint8Array(3))).toThrow(RangeError);
  });
});

describe('Xoshiro128', () => {
  it('reproduces the reference implementation from state {1, 2, 3, 4}', () => {
    const rng = Xoshiro128.fromState(1, 2, 3, 4);
    const first = Array.from({ length: 8 }, () => rng.nextUint32());
    expect(first).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849]);
  });

  it('draws Poisson(1) weights', () => {
    const weights = new Uint8Array(1_000_000);
    new Xoshiro128(42).fillPoissonOne(weights);
    let sum = 0;
    let squares = 0;
    let zeros = 0;
    for (const w of weights) {
      sum += w;
      squares += w * w;
      zeros += w === 0 ? 1 : 0;
    }
    const mean = sum / weights.length;
    expect(mean).toBeCloseTo(1, 2);
    expect(squares / weights.length - mean * mean).toBeCloseTo(1, 2);
    expect(zeros / weights.length).toBeCloseTo(Math.exp(-1), 2);
  });
});

/** A binary problem where the candidate is right on `accuracyA` of the rows and the baseline on `accuracyB`. */
function binaryPair(rows: number, accuracyA: number, accuracyB: number, seed: number) {
  const rng = new Xoshiro128(seed);
  const u = () => rng.nextUint32() / 2 ** 32;
  const yTrue = Int32Array.from({ length: rows }, () => (u() < 0.4 ? 1 : 0));
  const model = (accuracy: number): ClassificationInput => {
    const yPred = yTrue.map((y) => (u() < accuracy ? y : 1 - y));
    const proba = new Float64Array(rows * 2);
    yPred.forEach((p, i) => {
      // Scores rounded to 2 decimals: plenty of ties.
      const score = Math.round((p === 1 ? 0.5 + u() / 2 : u() / 2) * 100) / 100;
      proba[2 * i] = 1 - score;
      proba[2 * i + 1] = score;
    });
    return { classes: ['no', 'yes'], yTrue, yPred, proba };
  };
  return { candidate: model(accuracyA), baseline: model(accuracyB) };
}

describe('compareClassification', () => {
  const { candidate, baseline } = binaryPair(3000, 0.85, 0.75, 1);

  it('is deterministic for a seed', () => {
    const once = compareClassification(candidate, baseline, { resamples: 200, seed: 7 });
    expect(compareClassification(candidate, baseline, { resamples: 200, seed: 7 })).toEqual(once);
    expect(compareClassification(candidate, baseline, { resamples: 200, seed: 8 }).accuracy).not.toEqual(
      once.accuracy,
    );
  });

  it('finds clearly different models significantly different, every interval around its point delta', () => {
    const intervals = compareClassification(candidate, baseline, { resamples: 300 });
    for (const name of [
      'accuracy',
      'f1_macro',
      'mcc',
      'roc_auc',
      'pr_auc',
      'log_loss',
      'precision.yes',
      'f1',
    ]) {
      expect(intervals[name], name).toBeDefined();
    }
    expect(intervals.accuracy.significant).toBe(true);
    expect(intervals.accuracy.delta).toBeGreaterThan(0.05);
    expect(intervals.roc_auc.significant).toBe(true);
    for (const [name, interval] of Object.entries(intervals)) {
      expect(interval.low, name).toBeLessThanOrEqual(interval.delta);
      expect(interval.high, name).toBeGreaterThanOrEqual(interval.delta);
      expect(interval.method).toBe('paired-bootstrap');
      expect(interval.resamples).toBe(300);
    }
  });

  it('finds a model no different from itself', () => {
    const intervals = compareClassification(candidate, candidate, { resamples: 100 });
    for (const [name, interval] of Object.entries(intervals)) {
      expect(interval, name).toMatchObject({ delta: 0, low: 0, high: 0, significant: false });
    }
  });

  it('compares only the metrics both models have', () => {
    const intervals = compareClassification(candidate, { ...baseline, proba: undefined }, { resamples: 20 });
    expect(intervals.accuracy).toBeDefined();
    expect(intervals.roc_auc).toBeUndefined();
    expect(intervals.log_loss).toBeUndefined();
  });

  it('refuses models evaluated on different rows', () => {
    const other = binaryPair(3000, 0.85, 0.75, 2).baseline;
    expect(() => compareClassification(candidate, other)).toThrow(/same rows/);
  });

  it('agrees with scipy.stats.bootstrap(paired=True, method="percentile") on an accuracy difference', () => {
    const b = fixture.bootstrap;
    const yTrue = Int32Array.from(b.yTrue);
    const input = (yPred: number[]) => ({ classes: ['0', '1'], yTrue, yPred: Int32Array.from(yPred) });
    const { accuracy } = compareClassification(input(b.yPredCandidate), input(b.yPredBaseline), {
      resamples: 5000,
    });
    expect(accuracy.delta).toBeCloseTo(b.delta, 12);
    expect(Math.abs(accuracy.low - b.low)).toBeLessThan(0.01);
    expect(Math.abs(accuracy.high - b.high)).toBeLessThan(0.01);
  });
});

describe('compareRegression', () => {
  const rng = new Xoshiro128(3);
  const u = () => rng.nextUint32() / 2 ** 32;
  const yTrue = Float64Array.from({ length: 2000 }, () => Math.round(u() * 1000) / 10);
  const good = yTrue.map((y) => y + (u() - 0.5));
  const bad = yTrue.map((y) => y + 3 * (u() - 0.5));

  it('finds the better model significantly better on every error metric', () => {
    const intervals = compareRegression(yTrue, good, bad, { resamples: 300 });
    expect(Object.keys(intervals).sort()).toEqual(
      ['explained_variance', 'mae', 'mape', 'max_error', 'mse', 'r2', 'rmse'].sort(),
    );
    for (const name of ['mae', 'mse', 'rmse']) {
      expect(intervals[name].high, name).toBeLessThan(0);
      expect(intervals[name].significant).toBe(true);
    }
    expect(intervals.r2.low).toBeGreaterThan(0);
    for (const [name, interval] of Object.entries(intervals)) {
      expect(interval.low, name).toBeLessThanOrEqual(interval.delta);
      expect(interval.high, name).toBeGreaterThanOrEqual(interval.delta);
    }
  });

  it('finds a model no different from itself', () => {
    for (const interval of Object.values(compareRegression(yTrue, good, good, { resamples: 50 }))) {
      expect(interval).toMatchObject({ delta: 0, low: 0, high: 0, significant: false });
    }
  });
});

describe('pairedBootstrap', () => {
  it('leaves out a metric that no resample defines and validates its options', () => {
    const intervals = pairedBootstrap(
      5,
      // b is defined on all rows (unit weights) and on no resample.
      (w) => ({
        candidate: { a: w[0] + 1, b: w.every((v) => v === 1) ? 1 : Number.NaN },
        baseline: { a: 1, b: 0 },
      }),
      { resamples: 10 },
    );
    expect(Object.keys(intervals)).toEqual(['a']);
    expect(() => pairedBootstrap(5, () => ({ candidate: {}, baseline: {} }), { resamples: 0 })).toThrow(
      RangeError,
    );
    expect(() => pairedBootstrap(5, () => ({ candidate: {}, baseline: {} }), { alpha: 1 })).toThrow(
      RangeError,
    );
  });

  it('defaults to 1000 resamples, fewer (never under 100) for very large inputs', () => {
    expect(defaultResamples(5000)).toBe(1000);
    expect(defaultResamples(100_000)).toBe(1000);
    expect(defaultResamples(1_000_000)).toBe(100);
    expect(defaultResamples(50_000_000)).toBe(100);
  });
});
