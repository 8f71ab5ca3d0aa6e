/**
 * The SQL half of drift: DuckDB reduces two tables of raw text (any size, out of core) to what the
 * statistics need, and only that comes to JS.
 *
 * A numeric column: each side's count, then both sides sorted by DuckDB and merged here in one pass
 * (the ECDFs at every distinct value give KS, Wasserstein and the decile bins). A categorical column:
 * one query counting every value on each side.
 */

import { ident, literal, type Sql, type SqlStreams } from '../data/engine.js';

export type ColumnKind = 'numeric' | 'categorical';

export interface Tables {
  data: string;
  reference: string;
}

/** Decile bin edges of the reference and both samples' counts per bin: edges.length + 1 right-closed bins. */
export interface Bins {
  edges: number[];
  data: number[];
  reference: number[];
}

export interface NumericSummary {
  kind: 'numeric';
  /** Values that are neither missing nor unparseable or non-finite; the statistics below need both > 0. */
  n: { data: number; reference: number };
  /** Each side's smallest and largest value (null without values): equal means the side is constant. */
  range: { data: [number, number] | null; reference: [number, number] | null };
  /** Distinct values in both samples together. */
  distinct: number;
  /** max |F_data - F_reference| over the distinct values, before SciPy's exact-mode snapping. */
  ksStatistic: number;
  /** scipy.stats.wasserstein_distance(data, reference). */
  wasserstein: number;
  /** numpy.std(reference): the population standard deviation. */
  referenceStd: number;
  /** Per-value counts, in value order, when there are at most FEW_VALUES distinct values; else null. */
  few: { value: number; data: number; reference: number }[] | null;
  deciles: Bins;
}

export interface CategoricalSummary {
  kind: 'categorical';
  n: { data: number; reference: number };
  /** Every value seen on either side, in byte order, with its count on each side. */
  categories: { value: string; data: number; reference: number }[];
}

/** At most this many distinct values (both samples together) and a numeric column is binned by value. */
export const FEW_VALUES = 5;

/** Columns of a table; a table that does not exist has none. */
export async function tableColumns(sql: Sql, table: string): Promise<Set<string>> {
  const rows = await sql.all(
    `SELECT column_name FROM information_schema.columns WHERE table_name = ${literal(table)}`,
  );
  return new Set(rows.map((r) => String(r.column_name)));
}

export async function tableRows(sql: Sql, table: string): Promise<number> {
  const [{ n }] = await sql.all(`SELECT count(*) AS n FROM ${ident(table)}`);
  return Number(n);
}

/** The expression for "this cell holds a value": not NULL and not one of the configured missing values. */
function present(column: string, missing: readonly string[]): string {
  const text = `CAST(${ident(column)} AS VARCHAR)`;
  return missing.length === 0
    ? `${text} IS NOT NULL`
    : `${text} IS NOT NULL AND ${text} NOT IN (${missing.map(literal).join(', ')})`;
}

/**
 * Below this share of distinct values among the first rows, a side's values are counted by value before
 * they are sorted: sorting 1M rows of 1,000 prices costs several times more than hashing them into 1,000
 * groups first; for continuous values grouping is pure overhead. Only speed depends on the guess, never
 * a result.
 */
const GROUP_FIRST_BELOW = 0.25;
const SAMPLE_ROWS = 10000;

async function fewDistinct(sql: Sql, tables: Tables, column: string): Promise<boolean> {
  const head = (table: string) => `(SELECT ${ident(column)} AS v FROM ${ident(table)} LIMIT ${SAMPLE_ROWS})`;
  const [row] = await sql.all(
    `SELECT count(DISTINCT v) AS d, count(v) AS n FROM (${head(tables.data)} UNION ALL ${head(tables.reference)})`,
  );
  return Number(row.d) < GROUP_FIRST_BELOW * Number(row.n);
}

/**
 * One side's numbers as rows (x): missing cells, text that is not a number, NaN and infinities are left
 * out (they count as missing).
 */
function numericValues(table: string, column: string, missing: readonly string[]): string {
  return `SELECT x FROM (SELECT TRY_CAST(${ident(column)} AS DOUBLE) AS x FROM ${ident(table)} WHERE ${present(column, missing)}) WHERE isfinite(x)`;
}

const number = (v: unknown) => (v === null || v === undefined ? Number.NaN : Number(v));

/**
 * One side's values in ascending order, read a chunk at a time; with `grouped`, each row is a distinct
 * value and its count.
 */
class SortedSide {
  x: Float64Array = new Float64Array(0);
  count: Float64Array | null = null;
  i = 0;
  done = false;
  private readonly chunks: AsyncGenerator<Float64Array[]>;

  constructor(sql: SqlStreams, values: string, grouped: boolean) {
    this.chunks = sql.doubles(
      grouped ? `SELECT x, count(*)::DOUBLE FROM (${values}) GROUP BY x ORDER BY x` : `${values} ORDER BY x`,
    );
  }

  /** Loads the next chunk once this one is used up; false when nothing is left. */
  async ready(): Promise<boolean> {
    while (this.i >= this.x.length && !this.done) {
      const next = await this.chunks.next();
      [this.x, this.count = null] = next.done ? [new Float64Array(0)] : next.value;
      this.done = next.done === true;
      this.i = 0;
    }
    return !this.done;
  }

  close(): Promise<unknown> {
    return this.chunks.return(undefined);
  }
}

/**
 * The numeric column: a count (and the reference's spread) per side, then both sides sorted by DuckDB
 * (out of core) and merged here in one pass. The two ECDFs at every distinct value give the KS
 * statistic, the area between them the Wasserstein distance, and where the reference's ECDF reaches
 * k/10 the decile bins.
 */
export async function summarizeNumeric(
  sql: SqlStreams,
  tables: Tables,
  column: string,
  missing: readonly string[],
): Promise<NumericSummary> {
  const values = {
    data: numericValues(tables.data, column, missing),
    reference: numericValues(tables.reference, column, missing),
  };
  const [t] = await sql.all(
    `SELECT (SELECT count(*) FROM (${values.data})) AS n1, * FROM (SELECT count(*) AS n2, stddev_pop(x) AS std FROM (${values.reference}))`,
  );
  const n1 = Number(t.n1);
  const n2 = Number(t.n2);
  const grouped = await fewDistinct(sql, tables, column);
  const sides = [new SortedSide(sql, values.data, grouped), new SortedSide(sql, values.reference, grouped)];
  try {
    return {
      kind: 'numeric',
      n: { data: n1, reference: n2 },
      referenceStd: number(t.std),
      ...(await merge(sides[0], sides[1], n1, n2)),
    };
  } finally {
    await Promise.all(sides.map((s) => s.close()));
  }
}

type Merged = Omit<NumericSummary, 'kind' | 'n' | 'referenceStd'>;

async function merge(data: SortedSide, reference: SortedSide, n1: number, n2: number): Promise<Merged> {
  // greatest(n, 1): with no values on a side the statistics are not used, but must stay finite.
  const [m1, m2] = [Math.max(n1, 1), Math.max(n2, 1)];
  let [f1, f2, dMax, dMin, wasserstein, distinct] = [0, 0, 0, 0, 0, 0];
  let [lastX, lastDiff] = [Number.NaN, 0];
  let [min1, max1, min2, max2] = [Number.NaN, Number.NaN, Number.NaN, Number.NaN];
  const few: { value: number; data: number; reference: number }[] = [];
  const deciles: Bins = { edges: [], data: [], reference: [] };
  let [k, binned1, binned2] = [1, 0, 0];

  // A value's counts are complete only once a larger value (or the end) is reached: a run of equal
  // values may straddle two chunks.
  let [x, c1, c2] = [Number.NaN, 0, 0];
  const settle = () => {
    f1 += c1;
    f2 += c2;
    const diff = f1 / m1 - f2 / m2;
    if (diff > dMax) dMax = diff;
    if (diff < dMin) dMin = diff;
    if (distinct > 0) wasserstein += Math.abs(lastDiff) * (x - lastX);
    [lastX, lastDiff] = [x, diff];
    distinct++;
    if (few.length <= FEW_VALUES) few.push({ value: x, data: c1, reference: c2 });
    if (c1 > 0) {
      if (Number.isNaN(min1)) min1 = x;
      max1 = x;
    }
    if (c2 > 0) {
      if (Number.isNaN(min2)) min2 = x;
      max2 = x;
      // Edge k (k = 1..9) is the smallest reference value whose ECDF reaches k/10 (numpy's
      // 'inverted_cdf' quantile), compared in integers; equal edges merge; bins are right-closed.
      if (k <= 9 && 10 * f2 >= k * n2) {
        deciles.edges.push(x);
        deciles.data.push(f1 - binned1);
        deciles.reference.push(f2 - binned2);
        [binned1, binned2] = [f1, f2];
        while (k <= 9 && 10 * f2 >= k * n2) k++;
      }
    }
  };

  for (;;) {
    // Together, so that the first call sorts both sides at once.
    const [more1, more2] = await Promise.all([data.ready(), reference.ready()]);
    if (!more1 && !more2) break;
    // Synchronous until one side's chunk is used up: an await per value would cost more than the sort.
    const [x1, x2, count1, count2] = [data.x, reference.x, data.count, reference.count];
    let [i1, i2] = [data.i, reference.i];
    while ((i1 < x1.length || !more1) && (i2 < x2.length || !more2)) {
      const a = i1 < x1.length ? x1[i1] : Number.POSITIVE_INFINITY;
      const b = i2 < x2.length ? x2[i2] : Number.POSITIVE_INFINITY;
      if (a === Number.POSITIVE_INFINITY && b === Number.POSITIVE_INFINITY) break;
      const next = a <= b ? a : b;
      if (next !== x) {
        if (c1 + c2 > 0) settle();
        [x, c1, c2] = [next, 0, 0];
      }
      if (a === next) c1 += count1 ? count1[i1] : 1;
      if (a === next) i1++;
      if (b === next) c2 += count2 ? count2[i2] : 1;
      if (b === next) i2++;
    }
    [data.i, reference.i] = [i1, i2];
  }
  if (c1 + c2 > 0) settle();
  deciles.data.push(n1 - binned1);
  deciles.reference.push(n2 - binned2);
  const range = (min: number, max: number): [number, number] | null =>
    Number.isNaN(min) ? null : [min, max];
  return {
    range: { data: range(min1, max1), reference: range(min2, max2) },
    distinct,
    // SciPy: D = max(max diff, -min diff); the last value has diff 0, so both start from 0.
    ksStatistic: Math.max(dMax, -dMin),
    wasserstein,
    few: n1 > 0 && n2 > 0 && distinct <= FEW_VALUES ? few : null,
    deciles,
  };
}

/** The categorical column's one query: counts of every value on each side. */
export async function summarizeCategorical(
  sql: Sql,
  tables: Tables,
  column: string,
  missing: readonly string[],
): Promise<CategoricalSummary> {
  const side = (table: string, a: number) =>
    `SELECT CAST(${ident(column)} AS VARCHAR) AS v, ${a} AS a FROM ${ident(table)} WHERE ${present(column, missing)}`;
  const rows = await sql.all(
    `SELECT v, count(*) FILTER (WHERE a = 1) AS d, count(*) FILTER (WHERE a = 0) AS r
     FROM (${side(tables.data, 1)} UNION ALL ${side(tables.reference, 0)}) GROUP BY v ORDER BY v`,
  );
  const categories = rows.map((r) => ({ value: String(r.v), data: Number(r.d), reference: Number(r.r) }));
  return {
    kind: 'categorical',
    n: {
      data: categories.reduce((s, c) => s + c.data, 0),
      reference: categories.reduce((s, c) => s + c.reference, 0),
    },
    categories,
  };
}
