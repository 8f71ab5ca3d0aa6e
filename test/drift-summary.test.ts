import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/data/engine.js';
import { summarizeNumeric } from '../src/drift/summarize.js';
import { MemoryLogger } from '../src/logging.js';

// summarizeNumeric merges two sorted streams that DuckDB hands over 2,048 values at a time. These cases
// put long runs of equal values across chunk boundaries, on the path that sorts values one by one and on
// the one that counts them by value first, and check against SciPy's own algorithm written plainly here.

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.open(new MemoryLogger());
});
afterAll(() => engine.close());

/** scipy.stats.ks_2samp's statistic and wasserstein_distance, as SciPy computes them (searchsorted). */
function oracle(data: number[], reference: number[]) {
  const a = [...data].sort((x, y) => x - y);
  const b = [...reference].sort((x, y) => x - y);
  const upper = (s: number[], v: number) => {
    let [lo, hi] = [0, s.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const all = [...a, ...b].sort((x, y) => x - y);
  let [ks, wasserstein] = [0, 0];
  for (let i = 0; i < all.length; i++) {
    const diff = upper(a, all[i]) / a.length - upper(b, all[i]) / b.length;
    ks = Math.max(ks, Math.abs(diff));
    if (i + 1 < all.length) wasserstein += Math.abs(diff) * (all[i + 1] - all[i]);
  }
  return { ks, wasserstein };
}

async function summarize(data: number[], reference: number[]) {
  for (const [name, values] of [
    ['data', data],
    ['reference', reference],
  ] as const) {
    await engine.all(
      `CREATE OR REPLACE TABLE ${name} AS SELECT unnest([${values.join(',')}]::VARCHAR[]) AS x`,
    );
  }
  return summarizeNumeric(engine, { data: 'data', reference: 'reference' }, 'x', ['']);
}

const repeat = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('the numeric summary', () => {
  it.each([
    [
      'ties across chunks, values sorted one by one',
      // The first rows are all distinct, so values are not counted by value first.
      [...repeat(12000, (i) => i / 4), ...repeat(5000, () => 1500), ...repeat(3000, () => 2999.75)],
      [...repeat(9000, (i) => ((i * 7) % 9000) / 3), ...repeat(4100, () => 1500)],
    ],
    [
      'ties across chunks, values counted first',
      repeat(20000, (i) => (i % 37) * 0.5),
      repeat(15000, (i) => (i % 41) * 0.5 - 1),
    ],
  ])('%s: KS, Wasserstein, counts and ranges as SciPy', async (_, data, reference) => {
    const s = await summarize(data, reference);
    const expected = oracle(data, reference);
    expect(s.n).toEqual({ data: data.length, reference: reference.length });
    expect(s.ksStatistic).toBeCloseTo(expected.ks, 12);
    expect(Math.abs(s.wasserstein - expected.wasserstein)).toBeLessThanOrEqual(1e-9 * expected.wasserstein);
    expect(s.range).toEqual({
      data: [Math.min(...data), Math.max(...data)],
      reference: [Math.min(...reference), Math.max(...reference)],
    });
    expect(s.distinct).toBe(new Set([...data, ...reference]).size);
    expect(s.deciles.data.reduce((x, y) => x + y)).toBe(data.length);
    expect(s.deciles.reference.reduce((x, y) => x + y)).toBe(reference.length);
  });

  it('bins by value when there are at most five, and by the reference deciles otherwise', async () => {
    const s = await summarize(
      repeat(3000, (i) => i % 3),
      repeat(4000, (i) => i % 2),
    );
    expect(s.few).toEqual([
      { value: 0, data: 1000, reference: 2000 },
      { value: 1, data: 1000, reference: 2000 },
      { value: 2, data: 1000, reference: 0 },
    ]);
    expect(s.ksStatistic).toBeCloseTo(1 / 3, 15);
    expect(s.wasserstein).toBeCloseTo(1 / 2, 15);
    // Reference ECDF: 0.5 at 0 (edges for k = 1..5 merge there), 1 at 1 (k = 6..9).
    expect(s.deciles).toEqual({ edges: [0, 1], data: [1000, 1000, 1000], reference: [2000, 2000, 0] });
  });
});
