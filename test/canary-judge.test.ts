import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type Classification,
  type ClassifierSettings,
  classify,
  NETFLIX_ACA_JUDGE,
  rankSumShiftInterval,
} from '../src/canary/judge.js';
import { NODATA_THRESHOLD, type ScoredMetric, score } from '../src/canary/scorer.js';

// Kayenta's test vectors and the numbers the classifier must report for them, from
// scripts/fixtures/canary_reference.py (SciPy 1.10.1, numpy, and R's wilcox.test interval ported there). Each
// classifier case names its source:
// kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ClassifierSuite.scala (the classification and
// critical flag it asserts), or MannWhitneyClassifier.scala for the mustHaveData branches the suite leaves
// untested. The scorer's vectors below are from ScorerSuite.scala.
interface Fixture {
  classifier: {
    name: string;
    source: string;
    experiment: number[];
    control: number[];
    settings: ClassifierSettings;
    kayenta: { classification: Classification; critical: boolean };
    reference?: {
      estimate: number;
      interval: [number, number];
      /** null where a mean is 0 and the ratio NaN (JSON has no NaN). */
      ratio: number | null;
      cles: number;
      pValue: number;
    };
  }[];
  interval: {
    name: string;
    experiment: number[];
    control: number[];
    confidence: number;
    interval: [number, number];
    /** Where the root finder converges as its tolerance goes to 0. */
    jump: [number, number];
  }[];
}
const fixture: Fixture = JSON.parse(
  readFileSync(new URL('fixtures/canary/reference.json', import.meta.url), 'utf8'),
);

const CLASSIFIER_SUITE = 'kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ClassifierSuite.scala';
const SCORER_SUITE = 'kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ScorerSuite.scala';
const TRANSFORM_SUITE = 'kayenta-judge/src/test/scala/com/netflix/kayenta/judge/TransformSuite.scala';

function expectClose(actual: number | undefined, expected: number, what: string, tolerance = 1e-6) {
  expect(actual, what).toBeDefined();
  const error = Math.abs((actual as number) - expected);
  expect(error, `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(
    tolerance * Math.max(1, Math.abs(expected)),
  );
}

describe('classify: Kayenta test vectors', () => {
  it.each(fixture.classifier.map((c) => [`${c.name} (${c.source.split('/').pop()})`, c] as const))(
    '%s',
    (_, c) => {
      const result = classify(c.experiment, c.control, c.settings);
      expect(result.classification).toBe(c.kayenta.classification);
      expect(result.critical).toBe(c.kayenta.critical);
      expect(result.reason).not.toBe('');
      const ref = c.reference;
      if (!ref) {
        expect(result.interval).toBeUndefined();
        return;
      }
      expectClose(result.estimate, ref.estimate, 'estimate');
      expectClose(result.interval?.[0], ref.interval[0], 'interval low');
      expectClose(result.interval?.[1], ref.interval[1], 'interval high');
      if (ref.ratio === null) expect(result.ratio).toBeNaN();
      else expectClose(result.ratio, ref.ratio, 'ratio', 1e-12);
      expectClose(result.cles, ref.cles, 'cles', 1e-12);
      expectClose(result.pValue, ref.pValue, 'p-value', 1e-9);
    },
  );

  it('covers every test of the Mann-Whitney classifier in ClassifierSuite.scala', () => {
    const fromSuite = fixture.classifier.filter((c) => c.source === CLASSIFIER_SUITE);
    expect(fromSuite).toHaveLength(34);
  });

  // ClassifierSuite.scala, "Mean Ratio Effect Size: High", run with the default allowed effect as well.
  it('a canary ten times the baseline is High, at the default allowed effect and at 0.8..1.2', () => {
    const canary = [20, 22, 21, 25, 30];
    const baseline = [1, 2.2, 1.1, 2.5, 3];
    const settings: ClassifierSettings = { direction: 'either', tolerance: 0.1, confidence: 0.95 };
    const result = classify(canary, baseline, settings);
    expect(result.classification).toBe('High');
    expect(result.estimate).toBe(20);
    expect(result.ratio).toBeCloseTo(23.6 / 1.96, 12);
    expect(
      classify(canary, baseline, { ...settings, allowedDecrease: 0.8, allowedIncrease: 1.2 }).classification,
    ).toBe('High');
    // The same shift is not reported when only decreases are bad.
    expect(classify(canary, baseline, { ...settings, direction: 'decrease' }).classification).toBe('Pass');
  });

  // ClassifierSuite.scala, "Mean Ratio Effect Size: Pass": with 5 points a side the interval still reaches
  // above 0, so the decrease is not established whatever the allowance.
  it('[10, 12.2, 10.1, 12.5, 23] against [20, 22, 21, 25, 30] with allowed effect 0.5..1 passes', () => {
    const result = classify([10, 12.2, 10.1, 12.5, 23], [20, 22, 21, 25, 30], {
      direction: 'either',
      tolerance: 0.1,
      confidence: 0.95,
      allowedDecrease: 0.5,
      allowedIncrease: 1,
    });
    expect(result.classification).toBe('Pass');
    expect(result.interval?.[1]).toBeGreaterThan(0);
  });

  // ClassifierSuite.scala, "Mean Ratio Effect Size: Low": a significant halving (ratio 0.49) is Low while the
  // allowance is above the ratio, and passes once the allowance is below it.
  it('a significant decrease within the allowed effect passes', () => {
    const c = fixture.classifier.find((v) => v.name === 'Mean Ratio Effect Size: Low')!;
    expect(classify(c.experiment, c.control, c.settings).classification).toBe('Low');
    expect(classify(c.experiment, c.control, { ...c.settings, allowedDecrease: 0.45 }).classification).toBe(
      'Pass',
    );
  });

  // ClassifierSuite.scala, "Missing Experiment Data".
  it('no canary data is Nodata', () => {
    const result = classify([], [1, 2, 3, 4, 5], { direction: 'either' });
    expect(result).toMatchObject({
      classification: 'Nodata',
      critical: false,
      experimentCount: 0,
      controlCount: 5,
    });
  });

  // ClassifierSuite.scala, "Zero Mean: Pass Metric": identical all-zero samples pass with a ratio of 1.
  it('identical samples pass with a ratio of 1, even all zeros', () => {
    const result = classify([0, 0, 0, 0, 0], [0, 0, 0, 0, 0], { direction: 'either' });
    expect(result).toMatchObject({ classification: 'Pass', ratio: 1 });
  });
});

describe('classify: NaN handling', () => {
  const settings: ClassifierSettings = { direction: 'either' };

  // TransformSuite.scala, "Remove Single NaN": [0, 1, NaN, 1, 0] becomes [0, 1, 1, 0].
  it(`removes NaNs by default (${TRANSFORM_SUITE})`, () => {
    const withNaN = classify([0, 1, Number.NaN, 1, 0], [1, 2, 3, 4, 5], settings);
    const without = classify([0, 1, 1, 0], [1, 2, 3, 4, 5], settings);
    expect(withNaN).toEqual(without);
    expect(withNaN.experimentCount).toBe(4);
  });

  // TransformSuite.scala, "Remove Multiple NaN" (all removed), then ClassifierSuite.scala's missing-data
  // cases.
  it('a canary of NaNs has no data: Nodata, NodataFailMetric if data is required, Nodata if critical', () => {
    const nans = [Number.NaN, Number.NaN, Number.NaN];
    const baseline = [1, 2, 3, 4, 5];
    expect(classify(nans, baseline, settings)).toMatchObject({ classification: 'Nodata', critical: false });
    expect(classify(nans, baseline, { ...settings, mustHaveData: true })).toMatchObject({
      classification: 'NodataFailMetric',
      critical: false,
    });
    expect(classify(nans, baseline, { ...settings, mustHaveData: true, critical: true })).toMatchObject({
      classification: 'Nodata',
      critical: true,
    });
  });

  it('replace turns NaNs into zeros, so a canary that counted nothing is compared as zeros', () => {
    const replaced = classify([Number.NaN, Number.NaN, Number.NaN], [1, 2, 3, 4, 5], {
      ...settings,
      nanStrategy: 'replace',
    });
    expect(replaced).toEqual(classify([0, 0, 0], [1, 2, 3, 4, 5], settings));
    // Three against five is too few for 95%: R's rule makes the interval the whole range of differences.
    expect(replaced).toMatchObject({
      classification: 'Low',
      estimate: -3,
      interval: [-5, -1],
      experimentCount: 3,
    });
    expect(replaced.ratio).toBeNaN();
  });
});

describe('classify: settings and bad data', () => {
  it('reports infinite values as Error rather than a verdict', () => {
    expect(classify([1, Number.POSITIVE_INFINITY], [1, 2], { direction: 'either' })).toMatchObject({
      classification: 'Error',
      critical: false,
    });
  });

  it('rejects settings outside their range', () => {
    expect(() => classify([1], [2], { direction: 'up' as never })).toThrow(RangeError);
    expect(() => classify([1], [2], { direction: 'either', confidence: 1 })).toThrow(RangeError);
    expect(() => classify([1], [2], { direction: 'either', tolerance: -0.1 })).toThrow(RangeError);
    expect(() => classify([1], [2], { direction: 'either', nanStrategy: 'zero' as never })).toThrow(
      RangeError,
    );
    expect(() => classify([1], [2], { direction: 'either', allowedIncrease: Number.NaN })).toThrow(
      RangeError,
    );
  });

  it("exposes the judge's own confidence and tolerance", () => {
    expect(NETFLIX_ACA_JUDGE).toEqual({ confidence: 0.98, tolerance: 0.25 });
  });

  it('a smaller root tolerance moves the interval ends onto the differences themselves', () => {
    const c = fixture.interval.find((i) => i.name === 'distinct, unequal sizes')!;
    const [low, high] = rankSumShiftInterval(c.experiment, c.control, c.confidence, 1e-12);
    expect(low).toBeCloseTo(c.jump[0], 10);
    expect(high).toBeCloseTo(c.jump[1], 10);
  });
});

describe("rankSumShiftInterval: R's wilcox.test interval", () => {
  it.each(fixture.interval.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const [low, high] = rankSumShiftInterval(c.experiment, c.control, c.confidence);
    expectClose(low, c.interval[0], 'low');
    expectClose(high, c.interval[1], 'high');
    // Brent's method stops within its tolerance (1e-4) of the difference where the statistic jumps.
    expect(Math.abs(low - c.jump[0])).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(high - c.jump[1])).toBeLessThanOrEqual(1e-4);
  });

  it('samples that are each one value have the one difference as their interval', () => {
    expect(rankSumShiftInterval([10, 10, 10], [1, 1], 0.95)).toEqual([9, 9]);
  });

  it('rejects empty and non-finite samples', () => {
    expect(() => rankSumShiftInterval([], [1], 0.95)).toThrow(RangeError);
    expect(() => rankSumShiftInterval([Number.NaN], [1], 0.95)).toThrow(RangeError);
  });
});

describe(`score: ${SCORER_SUITE}`, () => {
  const metric = (
    name: string,
    classification: Classification,
    group = 'test-group',
    critical = false,
  ): ScoredMetric => ({
    name,
    group,
    classification,
    critical,
  });

  it('Single Metric Pass: 100; Single Metric Fail: 0', () => {
    expect(score([metric('p', 'Pass')]).score).toBe(100);
    expect(score([metric('h', 'High')]).score).toBe(0);
  });

  it('Single group Nodata: 0, and the group reports 0', () => {
    const result = score([metric('n', 'Nodata', 'test-group-nodata')]);
    expect(result.score).toBe(0);
    expect(result.groups).toEqual([
      { name: 'test-group-nodata', weight: 100, score: 0, passed: 0, total: 0, noData: true },
    ]);
    expect(result.reason).toContain(`${NODATA_THRESHOLD}%`);
  });

  it('Two Groups, one Pass, one Nodata: the group without data counts as 100', () => {
    const result = score([
      metric('p1a', 'Pass', 'test-group-pass'),
      metric('p1b', 'Pass', 'test-group-pass'),
      metric('n', 'Nodata', 'test-group-nodata'),
    ]);
    expect(result.groups.map((g) => g.score).sort((a, b) => a - b)).toEqual([0, 100]);
    expect(result.score).toBe(100);
  });

  it('One Group, Two Metrics: {Pass, High} is 50', () => {
    expect(score([metric('p', 'Pass'), metric('h', 'High')]).score).toBe(50);
  });

  it('One Group, Three Metrics: {Pass, High, Low} is 33.33, rounded to two decimals', () => {
    expect(score([metric('p', 'Pass'), metric('h', 'High'), metric('l', 'Low')]).score).toBe(33.33);
  });

  it('Two Groups, Three Metrics: weights 75/25 over {Pass, Pass} and {High} give 75', () => {
    const result = score(
      [metric('p1', 'Pass', 'group-1'), metric('p2', 'Pass', 'group-1'), metric('f', 'High', 'group-2')],
      { 'group-1': 75, 'group-2': 25 },
    );
    expect(result.score).toBe(75);
    expect(result.groups).toEqual([
      { name: 'group-1', weight: 75, score: 100, passed: 2, total: 2, noData: false },
      { name: 'group-2', weight: 25, score: 0, passed: 0, total: 1, noData: false },
    ]);
  });

  it('Two Groups, Three Metrics (Equal Weight): 25', () => {
    const metrics = [
      metric('p', 'Pass', 'group-1'),
      metric('f1', 'High', 'group-1'),
      metric('f2', 'High', 'group-2'),
    ];
    expect(score(metrics, { 'group-1': 50, 'group-2': 50 }).score).toBe(25);
  });

  it('Two Groups, Three Metrics (Equal Weight), one NoData: Nodata is left out of its group, 50', () => {
    const metrics = [
      metric('p', 'Pass', 'group-1'),
      metric('n', 'Nodata', 'group-1'),
      metric('f', 'High', 'group-2'),
    ];
    const result = score(metrics, { 'group-1': 50, 'group-2': 50 });
    expect(result.score).toBe(50);
    expect(result.groups[0]).toMatchObject({ score: 100, passed: 1, total: 1 });
  });

  it('Two Metrics, one good (normal), one fail (critical): 0', () => {
    const result = score([
      metric('test-metric-pass', 'Pass'),
      metric('test-metric-high', 'High', 'test-group', true),
    ]);
    expect(result.score).toBe(0);
    expect(result.criticalFailed).toEqual(['test-metric-high']);
    expect(result.reason).toContain('test-metric-high');
  });

  it('Two Metrics, one low (normal), one good (critical): 50', () => {
    const result = score([metric('low', 'Low'), metric('pass', 'Pass', 'test-group', true)]);
    expect(result.score).toBe(50);
    expect(result.criticalFailed).toEqual([]);
    expect(result.reason).toBeUndefined();
  });

  it('Two Metrics, one good (normal), one nodata (critical): 0', () => {
    expect(score([metric('pass', 'Pass'), metric('nodata', 'Nodata', 'test-group', true)]).score).toBe(0);
  });

  it('Two Groups (Unequal Weight), Four Metrics: 15% of 33.33 rounds to 5', () => {
    const metrics = [
      metric('high', 'High', 'group1'),
      metric('low', 'Low', 'group1'),
      metric('pass', 'Pass', 'group1'),
      metric('pass2', 'High', 'group2'),
    ];
    expect(score(metrics, { group1: 15, group2: 85 }).score).toBe(5);
  });
});

// Behaviour read from WeightedSumScorer.scala rather than asserted by its suite.
describe('score: WeightedSumScorer.scala', () => {
  const m = (name: string, group: string, classification: Classification): ScoredMetric => ({
    name,
    group,
    classification,
  });

  it('NodataFailMetric counts as a failure, Error is left out like Nodata', () => {
    const result = score([m('a', 'g', 'Pass'), m('b', 'g', 'NodataFailMetric'), m('c', 'g', 'Error')]);
    expect(result.groups[0]).toMatchObject({ passed: 1, total: 2 });
    expect(result.score).toBe(50);
  });

  it('unweighted groups share what the given weights leave, weights of absent groups included', () => {
    const metrics = [m('a', 'given', 'Pass'), m('b', 'left1', 'Pass'), m('c', 'left2', 'High')];
    const result = score(metrics, { given: 40, absent: 20 });
    expect(result.groups.map((g) => g.weight)).toEqual([40, 20, 20]);
    expect(result.score).toBe(60);
  });

  it('weights are not normalised: given weights under 100 cap the score', () => {
    expect(score([m('a', 'g1', 'Pass'), m('b', 'g2', 'Pass')], { g1: 30, g2: 30 }).score).toBe(60);
  });

  it('fails at exactly half the metrics Nodata, not below', () => {
    expect(score([m('a', 'g1', 'Pass'), m('b', 'g2', 'Nodata')]).score).toBe(0);
    expect(score([m('a', 'g1', 'Pass'), m('b', 'g1', 'Pass'), m('c', 'g2', 'Nodata')]).score).toBe(100);
  });

  it('rounds half up on the decimal value, as Commons Math does', () => {
    // 1/3 of a 50% weight: 16.666... -> 16.67.
    expect(
      score([m('a', 'g1', 'Pass'), m('b', 'g1', 'High'), m('c', 'g1', 'Low'), m('d', 'g2', 'High')]).score,
    ).toBe(16.67);
    // A 1.005% weight at 100%: the double nearest 1.005 is below it, yet its decimal rounds up, to 1.01.
    expect(score([m('a', 'g1', 'Pass'), m('b', 'g2', 'High')], { g1: 1.005, g2: 98.995 }).score).toBe(1.01);
  });

  it('rejects negative weights and weights adding up to more than 100', () => {
    expect(() => score([m('a', 'g', 'Pass')], { g: -1 })).toThrow(RangeError);
    expect(() => score([m('a', 'g', 'Pass')], { g: 80, h: 30 })).toThrow(RangeError);
  });

  it('no metrics score 0', () => {
    expect(score([])).toEqual({ score: 0, groups: [], criticalFailed: [] });
  });
});
