import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REGRESSION_METRICS, regressionMetrics } from '../src/metrics/index.js';

// Reference values from scikit-learn 1.2.1: scripts/fixtures/metrics_reference.py.
interface Case {
  name: string;
  yTrue: number[];
  yPred: number[];
  expected: Record<string, number | null>;
}
const fixture: { cases: Case[] } = JSON.parse(
  readFileSync(new URL('fixtures/metrics/regression.json', import.meta.url), 'utf8'),
);
const run = (c: Case) => regressionMetrics(Float64Array.from(c.yTrue), Float64Array.from(c.yPred));
const byName = (name: string) => fixture.cases.find((c) => c.name === name)!;

describe('regressionMetrics matches scikit-learn', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const { metrics } = run(c);
    expect(Object.keys(metrics).sort()).toEqual([...REGRESSION_METRICS].sort());
    for (const [name, expected] of Object.entries(c.expected)) {
      if (expected === null) {
        expect(metrics[name], name).toBeNull();
        continue;
      }
      const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
      expect(
        Math.abs(metrics[name]! - expected),
        `${name}: ${metrics[name]} vs ${expected}`,
      ).toBeLessThanOrEqual(tolerance);
    }
  });
});

describe('regressionMetrics explains its special cases', () => {
  it('says why r2 is null for one row', () => {
    expect(run(byName('one row (r2 undefined)')).notes).toContain(
      'r2 needs at least two rows (scikit-learn returns NaN).',
    );
  });

  it('says that a constant y_true forces r2 and explained_variance', () => {
    const { notes } = run(byName('constant y_true, imperfect (r2 and explained variance forced to 0)'));
    expect(notes.join('\n')).toContain('y_true is constant');
  });

  it('detects a constant y_true whose mean does not round back to the constant', () => {
    // 0.1 * 3 / 3 is not 0.1 in doubles; the forced value must not depend on that rounding.
    const { metrics } = regressionMetrics(Float64Array.of(0.1, 0.1, 0.1), Float64Array.of(0.2, 0.1, 0.1));
    expect(metrics.r2).toBe(0);
    expect(metrics.explained_variance).toBe(0);
  });

  it('warns that zeros in y_true make MAPE huge', () => {
    const { metrics, notes } = run(byName('zeros in y_true (MAPE divides by eps)'));
    expect(metrics.mape).toBeGreaterThan(1e14);
    expect(notes.join('\n')).toContain('mape divides by max(|y|, 2.2e-16)');
  });

  it('returns nulls and a note for no rows or non-finite values', () => {
    const empty = regressionMetrics(new Float64Array(0), new Float64Array(0));
    expect(Object.values(empty.metrics).every((v) => v === null)).toBe(true);
    expect(empty.notes).toContain('There are no rows: no metric can be computed.');
    const nan = regressionMetrics(Float64Array.of(1, 2), Float64Array.of(1, Number.NaN));
    expect(nan.metrics.mae).toBeNull();
    expect(nan.notes.join('\n')).toContain('NaN');
  });
});
