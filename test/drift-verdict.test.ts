import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, literal } from '../src/data/engine.js';
import {
  type ColumnDrift,
  type ColumnKind,
  DEFAULT_DRIFT_CONFIG,
  datasetDrift,
  driftColumns,
  parseDriftConfig,
} from '../src/drift/index.js';
import { adjustPValues } from '../src/drift/stats.js';
import { isConfigurationError } from '../src/errors.js';
import { MemoryLogger } from '../src/logging.js';

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.open(new MemoryLogger());
});
afterAll(() => engine.close());

type Cells = (string | number | null)[];

/** A text table like Engine.loadText makes, from columns of cells (null = empty cell). */
async function table(name: string, columns: Record<string, Cells>) {
  const select = Object.entries(columns).map(
    ([column, cells]) =>
      `unnest([${cells.map((v) => (v === null ? 'NULL' : literal(String(v)))).join(', ')}]::VARCHAR[]) AS "${column}"`,
  );
  await engine.all(`CREATE OR REPLACE TABLE ${name} AS SELECT ${select.join(', ')}`);
}

const repeat = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));

async function drift(
  columns: Record<string, ColumnKind>,
  config: unknown = undefined,
): Promise<Record<string, ColumnDrift>> {
  const list = Object.entries(columns).map(([name, kind]) => ({ name, kind }));
  const results = await driftColumns(
    engine,
    { data: 'data', reference: 'reference' },
    list,
    parseDriftConfig(config),
  );
  return Object.fromEntries(results.map((r) => [r.column, r]));
}

describe('the effect-size floor', () => {
  beforeAll(async () => {
    // 1M values spread evenly over [0, 1) (sd 0.29); the data is shifted by 0.01 (trivial) or 0.1 (real).
    const values = (shift: number) => `((i::DOUBLE + 0.5) / 1e6 + ${shift})::VARCHAR`;
    await engine.all(
      `CREATE OR REPLACE TABLE reference AS SELECT ${values(0)} AS small, ${values(0)} AS big FROM range(1000000) t(i)`,
    );
    await engine.all(
      `CREATE OR REPLACE TABLE data AS SELECT ${values(0.01)} AS small, ${values(0.1)} AS big FROM range(1000000) t(i)`,
    );
  });

  it('keeps a trivial shift in a million rows from being flagged, however small its p-value', async () => {
    const r = await drift(
      { small: 'numeric', big: 'numeric' },
      { columns: { small: { method: 'ks' }, big: { method: 'ks' } } },
    );
    expect(r.small.pValueAdjusted).toBeLessThan(1e-20);
    expect(r.small.score).toBeCloseTo(0.01, 5);
    expect(r.small.effectSize).toBeCloseTo(0.01 / Math.sqrt(1 / 12), 6);
    expect(r.small.drifted).toBe(false);
    expect(r.small.reasons[0]).toMatch(/too small to matter/);
    expect(r.big.drifted).toBe(true);
    expect(r.big.effectSize).toBeGreaterThan(0.3);
  });

  it('is what stops it: without a floor the same shift is flagged', async () => {
    const r = await drift({ small: 'numeric' }, { effectSizeFloor: 0, columns: { small: { method: 'ks' } } });
    expect(r.small.drifted).toBe(true);
  });

  it('by default a large reference is measured by distance: Wasserstein in reference standard deviations', async () => {
    const r = await drift({ small: 'numeric', big: 'numeric' });
    expect(r.small).toMatchObject({
      method: 'wasserstein',
      methodSource: 'default',
      threshold: 0.1,
      drifted: false,
    });
    expect(r.big).toMatchObject({ method: 'wasserstein', drifted: true, pValue: null });
    expect(r.big.score).toBeCloseTo(0.1 / Math.sqrt(1 / 12), 6);
  });
});

describe('missing values are part of the verdict', () => {
  beforeAll(async () => {
    const values = repeat(3000, (i) => (i * 7919) % 1000);
    await table('reference', { x: values, c: values.map((v) => `k${v % 4}`) });
    // The same values, plus 2,000 empty cells (40% missing); in y only 30 (1%).
    await table('data', {
      x: [...values, ...repeat(2000, () => null)],
      c: [...values.map((v) => `k${v % 4}`), ...repeat(2000, () => '')],
    });
  });

  it('a jump in nulls drifts a column whose non-null values are identical', async () => {
    const r = await drift({ x: 'numeric', c: 'categorical' });
    for (const c of [r.x, r.c]) {
      expect(c.score).toBe(0);
      expect(c.nullRate).toMatchObject({ reference: 0, data: 0.4, drifted: true });
      expect(c.nullRate.pValueAdjusted).toBeLessThan(1e-10);
      expect(c.drifted).toBe(true);
      expect(c.reasons.join('\n')).toMatch(/missing values: 0% in the reference, 40% in the data/);
    }
  });

  it('a change within the tolerance does not', async () => {
    const r = await drift({ x: 'numeric' }, { nullRateTolerance: 0.5 });
    expect(r.x.drifted).toBe(false);
    expect(r.x.nullRate.drifted).toBe(false);
  });

  it('configured missing values and unparseable numbers count as missing', async () => {
    await table('reference', { x: ['1', '2', '3', '4'] });
    await table('data', { x: ['1', 'n/a', 'oops', '-999'] });
    const r = await drift({ x: 'numeric' }, { missingValues: ['', 'n/a', '-999'], nullRateTolerance: 0.9 });
    expect(r.x.values).toMatchObject({ data: 1, reference: 4 });
    expect(r.x.nullRate.data).toBe(0.75);
  });
});

describe('unseen categories', () => {
  beforeAll(async () => {
    const reference = repeat(2000, (i) => ['a', 'b', 'c'][i % 3]);
    await table('reference', { c: reference, few: reference });
    // c: 2% of the data is a new category (Jensen-Shannon alone stays below 0.1); few: 0.5%.
    await table('data', {
      c: [...reference.slice(0, 1960), ...repeat(40, (i) => (i % 2 ? 'd' : 'e'))],
      few: [...reference.slice(0, 1990), ...repeat(10, () => 'd')],
    });
  });

  it('drift a column when their share exceeds the tolerance, and are listed', async () => {
    const r = await drift({ c: 'categorical', few: 'categorical' });
    expect(r.c.method).toBe('jensenshannon');
    expect(r.c.score).toBeLessThan(0.1);
    expect(r.c.unseen).toMatchObject({ share: 0.02, count: 40, drifted: true });
    expect(r.c.unseen?.values).toEqual([
      { value: 'd', count: 20 },
      { value: 'e', count: 20 },
    ]);
    expect(r.c.drifted).toBe(true);
    expect(r.c.reasons.join('\n')).toMatch(
      /unseen categories: 2% of data values \(> 1%\): "d" \(20\), "e" \(20\)/,
    );
    expect(r.few.unseen).toMatchObject({ share: 0.005, drifted: false });
    expect(r.few.drifted).toBe(false);
  });
});

describe('constant, all-null and empty inputs have defined verdicts', () => {
  it('constant columns: equal is no drift with score 0, different is drift even on 3 rows', async () => {
    await table('reference', { same: [5, 5, 5], diff: [5, 5, 5], label: ['a', 'a', 'a'] });
    await table('data', { same: [5, 5, 5], diff: [6, 6, 6], label: ['b', 'b', 'b'] });
    // KS on 3 rows a side cannot reach p < 0.05 even for D = 1; the constant rule decides.
    const r = await drift(
      { same: 'numeric', diff: 'numeric', label: 'categorical' },
      { columns: { same: { method: 'ks' }, diff: { method: 'ks' } } },
    );
    expect(r.same).toMatchObject({ verdict: 'no_drift', score: 0, pValue: 1, effectSize: 0 });
    expect(r.diff).toMatchObject({ verdict: 'drift', score: 1 });
    expect(r.diff.pValue).toBeGreaterThan(0.05);
    expect(r.diff.reasons[0]).toMatch(/constant, and different: "5" in the reference, "6" in the data/);
    expect(r.label).toMatchObject({ verdict: 'drift', method: 'z' });
  });

  it('all-null columns: both is no drift, one side is drift, never NaN', async () => {
    await table('reference', {
      both: [null, null, null, null],
      gone: ['1', '2', '3', '4'],
      born: [null, '', null, null],
    });
    await table('data', {
      both: [null, '', null, null],
      gone: [null, null, null, null],
      born: ['1', '2', '3', '4'],
    });
    const r = await drift({ both: 'numeric', gone: 'numeric', born: 'numeric' }, { nullRateTolerance: 1 });
    expect(r.both).toMatchObject({ verdict: 'no_drift', score: 0, effectSize: 0 });
    expect(r.both.nullRate).toMatchObject({ data: 1, reference: 1, pValue: 1 });
    expect(r.gone).toMatchObject({ verdict: 'drift', score: null });
    expect(r.gone.reasons[0]).toMatch(/every value is missing in the data/);
    expect(r.born).toMatchObject({ verdict: 'drift', score: null });
    expect(r.born.reasons[0]).toMatch(/every value is missing in the reference/);
    expect(JSON.stringify(Object.values(r))).not.toMatch(/NaN/);
  });

  it('an empty reference: no_reference with a reason, not counted in the drift share', async () => {
    await engine.all(
      `CREATE OR REPLACE TABLE reference AS SELECT '1'::VARCHAR AS x, 'a'::VARCHAR AS c WHERE false`,
    );
    await table('data', { x: [1, 2], c: ['a', 'b'] });
    const results = Object.values(await drift({ x: 'numeric', c: 'categorical' }));
    for (const r of results) {
      expect(r).toMatchObject({ verdict: 'no_reference', drifted: false, score: null });
      expect(r.reasons).toEqual(['the reference has no rows']);
    }
    expect(datasetDrift(results)).toMatchObject({
      drift_share: null,
      drifted: [],
      evaluated: 0,
      dataset_drift: false,
      not_evaluable: [
        { column: 'x', verdict: 'no_reference' },
        { column: 'c', verdict: 'no_reference' },
      ],
    });
  });

  it('a column missing from a table is reported, not a crash', async () => {
    await table('reference', { x: [1, 2, 3] });
    await table('data', { x: [1, 2, 3], extra: ['a', 'b', 'c'] });
    const r = await drift({ x: 'numeric', extra: 'categorical' });
    expect(r.extra).toMatchObject({
      verdict: 'missing_column',
      reasons: ['column is absent from the reference'],
    });
    expect(r.x.verdict).toBe('no_drift');
    expect(datasetDrift(Object.values(r))).toMatchObject({ drift_share: 0, evaluated: 1, columns: 2 });
  });
});

describe('default methods follow Evidently: by type, distinct values and reference size', () => {
  it.each([
    [500, 'numeric', 100, 'ks'],
    [500, 'numeric', 3, 'chisquare'],
    [500, 'numeric', 2, 'z'],
    [500, 'categorical', 3, 'chisquare'],
    [500, 'categorical', 2, 'z'],
    [1500, 'numeric', 100, 'wasserstein'],
    [1500, 'numeric', 4, 'jensenshannon'],
    [1500, 'categorical', 3, 'jensenshannon'],
  ] as const)('%i reference rows, %s, %i values: %s', async (rows, kind, values, method) => {
    const cells = repeat(rows, (i) => (kind === 'numeric' ? i % values : `v${i % values}`));
    await table('reference', { x: cells });
    await table('data', { x: cells });
    const r = await drift({ x: kind });
    expect(r.x).toMatchObject({ method, methodSource: 'default', drifted: false });
    expect(r.x.threshold).toBe(method === 'wasserstein' || method === 'jensenshannon' ? 0.1 : 0.05);
  });
});

describe('multiple testing', () => {
  beforeAll(async () => {
    const reference = repeat(400, (i) => (i * 37) % 400);
    await table('reference', { a: reference, b: reference, c: reference });
    await table('data', {
      a: reference.map((v) => v + 80),
      b: reference.map((v) => v + 40),
      c: reference.map((v) => v + 5),
    });
  });

  it.each(['bh', 'bonferroni', 'none'] as const)(
    '%s adjusts the p-values of all tested columns together',
    async (correction) => {
      const r = await drift({ a: 'numeric', b: 'numeric', c: 'numeric' }, { correction });
      const raw = [r.a.pValue!, r.b.pValue!, r.c.pValue!];
      expect(raw.every((p) => p > 0 && p < 1)).toBe(true);
      expect([r.a.pValueAdjusted, r.b.pValueAdjusted, r.c.pValueAdjusted]).toEqual(
        adjustPValues(raw, correction),
      );
    },
  );

  it('decides on the adjusted p-value', async () => {
    // b's raw p-value is below 0.05 but Bonferroni's adjustment lifts it above.
    const none = await drift(
      { a: 'numeric', b: 'numeric', c: 'numeric' },
      { correction: 'none', effectSizeFloor: 0 },
    );
    const bonferroni = await drift(
      { a: 'numeric', b: 'numeric', c: 'numeric' },
      { correction: 'bonferroni', effectSizeFloor: 0 },
    );
    expect(none.b.pValue).toBeLessThan(0.05);
    expect(bonferroni.b.pValueAdjusted).toBeGreaterThan(0.05);
    expect(none.b.drifted).toBe(true);
    expect(bonferroni.b.drifted).toBe(false);
    expect(bonferroni.b.reasons[0]).toMatch(/adjusted; raw/);
  });
});

describe('every column is reported, and the dataset share is gateable', () => {
  it('reports method, score, threshold, p-values, effect size, null rates even when a column passes', async () => {
    const cells = repeat(200, (i) => i % 17);
    await table('reference', { x: cells, c: cells.map((v) => `k${v % 3}`) });
    await table('data', { x: cells, c: cells.map((v) => `k${v % 3}`) });
    const r = await drift({ x: 'numeric', c: 'categorical' });
    for (const c of Object.values(r)) {
      expect(c.verdict).toBe('no_drift');
      for (const key of [
        'method',
        'score',
        'threshold',
        'pValue',
        'pValueAdjusted',
        'effectSize',
        'histogram',
      ] as const) {
        expect(c[key], `${c.column}.${key}`).not.toBeNull();
      }
      expect(c.nullRate).toMatchObject({ data: 0, reference: 0 });
      expect(c.reasons).toHaveLength(1);
    }
    expect(datasetDrift(Object.values(r))).toMatchObject({
      drift_share: 0,
      drifted: [],
      dataset_drift: false,
    });
  });

  it('drift_share counts drifted over evaluated columns; dataset_drift at driftShare', () => {
    const verdicts = ['drift', 'no_drift', 'no_drift', 'missing_column'] as const;
    const results = verdicts.map((verdict, i) => ({
      column: `c${i}`,
      verdict,
      drifted: verdict === 'drift',
    }));
    const summary = datasetDrift(results as unknown as ColumnDrift[], { driftShare: 0.3 });
    expect(summary).toMatchObject({ drift_share: 1 / 3, drifted: ['c0'], evaluated: 3, dataset_drift: true });
  });
});

describe('the drift config', () => {
  it('has defaults', () => {
    expect(parseDriftConfig(undefined)).toEqual({ ...DEFAULT_DRIFT_CONFIG });
    expect(parseDriftConfig('')).toEqual({ ...DEFAULT_DRIFT_CONFIG });
  });

  it('reads YAML and JSON', () => {
    const yaml = parseDriftConfig(
      'correction: bonferroni\nalpha: 0.01\ncolumns:\n  age: { method: psi, threshold: 0.2 }\n',
    );
    expect(yaml).toMatchObject({
      correction: 'bonferroni',
      alpha: 0.01,
      columns: { age: { method: 'psi', threshold: 0.2 } },
    });
    expect(parseDriftConfig('{"effectSizeFloor": 0}').effectSizeFloor).toBe(0);
  });

  it.each([
    ['corection: bh', /drift-config: unknown key "corection"/],
    ['correction: holm', /drift-config: correction: unknown correction "holm"/],
    ['alpha: 1.5', /drift-config: alpha: must be between 0 and 1/],
    ['alpha: "0.05"', /drift-config: alpha: must be between 0 and 1/],
    ['nullRateTolerance: -1', /nullRateTolerance: must be between 0 and 1/],
    ['missingValues: NA', /missingValues: must be a list of strings/],
    [
      'columns: { age: { method: anova } }',
      /drift-config: columns.age.method: unknown method "anova"; use one of ks, chisquare/,
    ],
    [
      'columns: { age: { method: ks, threshold: 2 } }',
      /columns.age.threshold: must be a number above 0 and below 1/,
    ],
    ['columns: { age: { methd: ks } }', /columns.age: unknown key "methd"/],
    ['[1, 2]', /must be a mapping/],
    ['alpha: [', /does not parse as YAML or JSON/],
  ])('refuses %s', (text, message) => {
    let error: unknown;
    try {
      parseDriftConfig(text);
    } catch (e) {
      error = e;
    }
    expect(isConfigurationError(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses settings for columns that are not tested, and numeric methods on categories', async () => {
    await table('reference', { x: [1, 2], c: ['a', 'b'] });
    await table('data', { x: [1, 2], c: ['a', 'b'] });
    await expect(drift({ x: 'numeric' }, { columns: { y: { method: 'ks' } } })).rejects.toThrow(
      /drift-config: columns.y: is not one of the columns tested for drift \(x\)/,
    );
    await expect(drift({ c: 'categorical' }, { columns: { c: { method: 'wasserstein' } } })).rejects.toThrow(
      /method wasserstein needs numbers, but column "c" is categorical/,
    );
    await expect(drift({ c: 'categorical' }, { columns: { c: { method: 'z' } } })).resolves.toBeDefined();
    await table('data', { x: [1, 2], c: ['a', 'z'] });
    await expect(drift({ c: 'categorical' }, { columns: { c: { method: 'z' } } })).rejects.toThrow(
      /method z compares two proportions, but column "c" has 3 distinct values/,
    );
  });
});
