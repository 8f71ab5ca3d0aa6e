import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  adjustPValues,
  chi2Contingency,
  chi2Sf,
  jensenShannon,
  kolmogorovSf,
  ksTwoSample,
  logGamma,
  psi,
  smirnovSf,
  twoProportionZ,
} from '../src/drift/stats.js';

// Reference values from SciPy 1.10.1: scripts/fixtures/drift_reference.py.
interface Fixture {
  ksExact: { n1: number; n2: number; d: number; statistic: number; pValue: number }[];
  ksAsymp: { n1: number; n2: number; d: number; pValue: number }[];
  kolmogorov: { n: number; x: number; sf: number }[];
  smirnov: { n: number; x: number; sf: number }[];
  chi2Sf: { x: number; dof: number; sf: number }[];
  gammaln: { x: number; value: number }[];
  chi2Contingency: { table: number[][]; statistic: number; pValue: number; dof: number; dropped: number[] }[];
  z: { x1: number; n1: number; x2: number; n2: number; z: number; pValue: number }[];
  distances: { p: number[]; q: number[]; jensenshannon: number; jensenshannonBase2: number; psi: number }[];
  corrections: { pValues: number[]; bh: number[]; bonferroni: number[] }[];
}
const fixture: Fixture = JSON.parse(
  readFileSync(new URL('fixtures/drift/expected.json', import.meta.url), 'utf8'),
);

/** it.each rows: a readable name, then the case. */
const named = <T>(cases: T[], name: (c: T) => string) => cases.map((c) => [name(c), c] as [string, T]);

/**
 * Relative agreement to 1e-9. Below 1e-300 (SciPy's subnormal p-values, where its double-double sums lose
 * terms to underflow one by one) both must merely be below 1e-300.
 */
function expectClose(actual: number, expected: number, what: string) {
  if (Math.abs(expected) < 1e-300) {
    expect(Math.abs(actual), `${what}: ${actual} vs ${expected}`).toBeLessThan(1e-300);
    return;
  }
  const tolerance = 1e-9 * Math.abs(expected);
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

describe('Kolmogorov-Smirnov p-values match scipy.stats.ks_2samp', () => {
  it.each(named(fixture.ksExact, (c) => `n1=${c.n1} n2=${c.n2} D=${c.d}`))('exact: %s', (_, c) => {
    const result = ksTwoSample(c.d, c.n1, c.n2, 'exact');
    expect(result.method).toBe('exact');
    expectClose(result.statistic, c.statistic, 'statistic');
    expectClose(result.pValue, c.pValue, 'p');
  });

  it.each(named(fixture.ksAsymp, (c) => `n1=${c.n1} n2=${c.n2} D=${c.d}`))('asymp: %s', (_, c) => {
    const result = ksTwoSample(c.d, c.n1, c.n2, 'asymp');
    expect(result.method).toBe('asymp');
    expectClose(result.pValue, c.pValue, 'p');
  });

  it('auto is exact up to 10,000 values a side and asymptotic beyond', () => {
    expect(ksTwoSample(0.1, 10000, 10000).method).toBe('exact');
    expect(ksTwoSample(0.1, 10001, 50).method).toBe('asymp');
    expect(ksTwoSample(0, 30, 40)).toEqual({ statistic: 0, pValue: 1, method: 'exact' });
  });

  it('refuses impossible inputs', () => {
    expect(() => ksTwoSample(0.5, 0, 10)).toThrow(RangeError);
    expect(() => ksTwoSample(1.5, 10, 10)).toThrow(RangeError);
  });

  it.each(named(fixture.kolmogorov, (c) => `n=${c.n} x=${c.x}`))('kstwo.sf: %s', (_, c) => {
    expectClose(kolmogorovSf(c.n, c.x), c.sf, 'sf');
  });

  it.each(named(fixture.smirnov, (c) => `n=${c.n} x=${c.x}`))('smirnov: %s', (_, c) => {
    expectClose(smirnovSf(c.n, c.x), c.sf, 'sf');
  });
});

describe('chi-squared matches scipy.stats', () => {
  it.each(named(fixture.chi2Sf, (c) => `x=${c.x} dof=${c.dof}`))('chi2.sf: %s', (_, c) => {
    expectClose(chi2Sf(c.x, c.dof), c.sf, 'sf');
  });

  it.each(named(fixture.gammaln, (c) => String(c.x)))('gammaln(%s)', (_, c) => {
    expect(Math.abs(logGamma(c.x) - c.value)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(c.value)));
  });

  it.each(named(fixture.chi2Contingency, (c) => JSON.stringify(c.table)))('chi2_contingency %s', (_, c) => {
    const result = chi2Contingency(c.table);
    expect(result.dof).toBe(c.dof);
    expect(result.dropped).toEqual(c.dropped);
    expectClose(result.statistic, c.statistic, 'statistic');
    expectClose(result.pValue, c.pValue, 'p');
  });

  it('refuses a table with an empty row', () => {
    expect(() =>
      chi2Contingency([
        [0, 0],
        [1, 2],
      ]),
    ).toThrow(RangeError);
  });
});

describe('two-proportion Z test', () => {
  it.each(named(fixture.z, (c) => `${c.x1}/${c.n1} vs ${c.x2}/${c.n2}`))('%s', (_, c) => {
    const result = twoProportionZ(c.x1, c.n1, c.x2, c.n2);
    expectClose(result.z, c.z, 'z');
    expectClose(result.pValue, c.pValue, 'p');
  });
});

describe('distances on histograms', () => {
  it.each(named(fixture.distances, (c) => `${c.p} vs ${c.q}`))('%s', (_, c) => {
    // SciPy's distance can be off by rounding when the divergence is ~0; an absolute 1e-9 is the honest bound.
    expect(Math.abs(jensenShannon(c.p, c.q) - c.jensenshannon)).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(jensenShannon(c.p, c.q, 2) - c.jensenshannonBase2)).toBeLessThanOrEqual(1e-9);
    expectClose(psi(c.p, c.q), c.psi, 'psi');
  });

  it('identical histograms are at distance 0, never NaN', () => {
    expect(jensenShannon([1, 2, 3], [2, 4, 6])).toBe(0);
    expect(psi([1, 2, 3], [2, 4, 6])).toBe(0);
  });
});

describe('multiple-testing corrections', () => {
  it.each(named(fixture.corrections, (c) => JSON.stringify(c.pValues)))('%s', (_, c) => {
    const bh = adjustPValues(c.pValues, 'bh');
    const bonferroni = adjustPValues(c.pValues, 'bonferroni');
    for (let i = 0; i < c.pValues.length; i++) {
      expectClose(bh[i], c.bh[i], `bh[${i}]`);
      expectClose(bonferroni[i], c.bonferroni[i], `bonferroni[${i}]`);
    }
    expect(adjustPValues(c.pValues, 'none')).toEqual(c.pValues);
  });
});
