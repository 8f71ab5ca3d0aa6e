import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/data/engine.js';
import { type ColumnDrift, type DriftMethod, driftColumns, parseDriftConfig } from '../src/drift/index.js';
import { MemoryLogger } from '../src/logging.js';

// Every number through the real path: fixture CSVs loaded by Engine.loadText, summarised in DuckDB,
// finished in JS, compared with SciPy 1.10.1 (scripts/fixtures/drift_reference.py).

interface NumericExpected {
  n: { data: number; reference: number };
  ks: { statistic: number; pValue: number; method: 'exact' | 'asymp' };
  wasserstein: number;
  referenceStd: number;
  wassersteinNorm: number;
  bins: { edges?: number[]; values?: number[]; data: number[]; reference: number[] };
  jensenshannon: number;
  psi: number;
  chisquare: { statistic: number; pValue: number; dof: number };
}
interface CategoricalExpected {
  n: { data: number; reference: number };
  categories: string[];
  counts: { data: number[]; reference: number[] };
  chisquare: { statistic: number; pValue: number; dof: number };
  jensenshannon: number;
  psi: number;
  unseenShare: number;
  z?: { z: number; pValue: number };
}
interface Case {
  files: { data: string; reference: string };
  columns: { x: NumericExpected; c: CategoricalExpected };
}
const fixture: { cases: Record<string, Case> } = JSON.parse(
  readFileSync(new URL('fixtures/drift/expected.json', import.meta.url), 'utf8'),
);

function expectClose(actual: number | null | undefined, expected: number, what: string) {
  expect(actual, what).toBeTypeOf('number');
  const tolerance = Math.abs(expected) < 1e-300 ? 1e-300 : 1e-9 * Math.abs(expected);
  expect(Math.abs(actual! - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.open(new MemoryLogger());
});
afterAll(() => engine.close());

async function load(c: Case) {
  for (const side of ['data', 'reference'] as const) {
    const name = c.files[side];
    const path = fileURLToPath(new URL(`fixtures/drift/${name}`, import.meta.url));
    await engine.loadText(side, [{ path, format: 'csv', gzip: name.endsWith('.gz') }], ['x', 'c']);
  }
}

/** Runs drift with the given method on each column; correction off so the adjusted p-value is the raw one. */
async function run(methods: { x?: DriftMethod; c?: DriftMethod }): Promise<Record<'x' | 'c', ColumnDrift>> {
  const columns = Object.fromEntries(Object.entries(methods).map(([name, method]) => [name, { method }]));
  const config = parseDriftConfig({ correction: 'none', columns });
  const results = await driftColumns(
    engine,
    { data: 'data', reference: 'reference' },
    [
      { name: 'x', kind: 'numeric' },
      { name: 'c', kind: 'categorical' },
    ],
    config,
  );
  return { x: results[0], c: results[1] };
}

describe.each(Object.entries(fixture.cases))('%s agrees with SciPy through DuckDB', (_, c) => {
  const x = c.columns.x;
  const cat = c.columns.c;
  beforeAll(() => load(c));

  it('counts the values and missing cells', async () => {
    const r = await run({});
    expect(r.x.values).toMatchObject({ data: x.n.data, reference: x.n.reference });
    expect(r.c.values).toMatchObject({
      data: cat.n.data,
      reference: cat.n.reference,
      distinct: cat.categories.length,
    });
    expect(r.x.nullRate.data).toBeCloseTo(1 - x.n.data / r.x.rows.data, 12);
  });

  it('KS: ks_2samp statistic and p-value, in the mode SciPy used', async () => {
    const { x: r } = await run({ x: 'ks' });
    expectClose(r.score, x.ks.statistic, 'statistic');
    expectClose(r.pValue, x.ks.pValue, 'p');
    expect(r.statistics.ks_method).toBe(x.ks.method);
  });

  it('Wasserstein: wasserstein_distance, numpy.std, and their ratio', async () => {
    const { x: r } = await run({ x: 'wasserstein' });
    expectClose(r.statistics.wasserstein as number, x.wasserstein, 'wasserstein');
    expectClose(r.statistics.reference_std as number, x.referenceStd, 'std');
    expectClose(r.score, x.wassersteinNorm, 'normalised');
    expectClose(r.effectSize, x.wassersteinNorm, 'effect size');
  });

  it('bins numeric values as documented: deciles of the reference, or one bin per value', async () => {
    const { x: r } = await run({ x: 'jensenshannon' });
    expect(r.statistics.bins).toBe(x.bins.edges ? 'deciles' : 'values');
    expect(r.histogram?.data).toEqual(x.bins.data);
    expect(r.histogram?.reference).toEqual(x.bins.reference);
    if (x.bins.values) expect(r.histogram?.labels).toEqual(x.bins.values.map(String));
  });

  it('Jensen-Shannon, PSI and chi-squared on the numeric bins', async () => {
    const js = await run({ x: 'jensenshannon' });
    expect(Math.abs(js.x.score! - x.jensenshannon)).toBeLessThanOrEqual(1e-9);
    expectClose((await run({ x: 'psi' })).x.score, x.psi, 'psi');
    const chi2 = (await run({ x: 'chisquare' })).x;
    expectClose(chi2.score, x.chisquare.statistic, 'chi2');
    expectClose(chi2.pValue, x.chisquare.pValue, 'p');
    expect(chi2.statistics.chisquare_dof).toBe(x.chisquare.dof);
  });

  it('categorical: chi2_contingency, jensenshannon, PSI, unseen share', async () => {
    const chi2 = (await run({ c: 'chisquare' })).c;
    expect(chi2.histogram?.labels.length).toBeLessThanOrEqual(12);
    expectClose(chi2.score, cat.chisquare.statistic, 'chi2');
    expectClose(chi2.pValue, cat.chisquare.pValue, 'p');
    expect(chi2.statistics.chisquare_dof).toBe(cat.chisquare.dof);
    const js = (await run({ c: 'jensenshannon' })).c;
    expect(Math.abs(js.score! - cat.jensenshannon)).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(js.effectSize! - cat.jensenshannon)).toBeLessThanOrEqual(1e-9);
    expectClose((await run({ c: 'psi' })).c.score, cat.psi, 'psi');
    expect(chi2.unseen?.share).toBeCloseTo(cat.unseenShare, 15);
  });

  it.runIf(cat.z)('two categories: the Z test', async () => {
    const { c: r } = await run({ c: 'z' });
    expectClose(r.score, Math.abs(cat.z!.z), '|z|');
    expectClose(r.pValue, cat.z!.pValue, 'p');
  });
});
