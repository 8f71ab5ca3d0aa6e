/**
 * The SQL half of drift: DuckDB reduces two tables of raw text (any size, out of core) to the few numbers
 * the statistics need, and only those come back to JS.
 *
 * One query per column (besides a row count per table). A numeric column's query sorts the union of both
 * samples once and walks it with a window: the two ECDFs at every distinct value give the KS statistic,
 * the area between them the Wasserstein distance, and where the reference's ECDF crosses k/10 the decile
 * bins; counts, ranges and the reference's spread come from the same materialised values. A categorical
 * column's query counts every value on each side.
 */

import { ident, literal, type Sql } from '../data/engine.js';

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
 * Below this share of distinct values among the first rows, values are grouped before the window: sorting
 * 2M rows of 1,000 prices costs ~5x more than hashing them into 1,000 groups first; for continuous values
 * grouping is pure overhead. Only speed depends on the guess, never a result.
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
 * Both samples' numbers as rows (x, d): d = 1 for data and NULL for reference. Missing cells, text that is
 * not a number, NaN and infinities are left out (they count as missing).
 */
function numericValues(tables: Tables, column: string, missing: readonly string[]): string {
  const side = (table: string, d: string) =>
    `SELECT TRY_CAST(${ident(column)} AS DOUBLE) AS x, ${d} AS d FROM ${ident(table)} WHERE ${present(column, missing)}`;
  return `SELECT x, d FROM (${side(tables.data, '1')} UNION ALL ${side(tables.reference, 'NULL')}) WHERE isfinite(x)`;
}

const number = (v: unknown) => (v === null || v === undefined ? Number.NaN : Number(v));

/** The numeric column's one query (plus a glance at the first rows to choose how to run it). */
export async function summarizeNumeric(
  sql: Sql,
  tables: Tables,
  column: string,
  missing: readonly string[],
): Promise<NumericSummary> {
  // d is 1 on data rows and NULL on reference rows: a running count(d) counts data values, and DuckDB
  // keeps running counts cheap (a running sum of doubles over 2M rows costs twice the sort).
  const window = (await fewDistinct(sql, tables, column))
    ? `SELECT x, sum(c1) OVER o AS f1, sum(c) OVER o AS cum, lead(x) OVER o AS next_x
       FROM (SELECT x, count(d)::DOUBLE AS c1, count(*)::DOUBLE AS c FROM s GROUP BY x)`
    : 'SELECT x, count(d) OVER o AS f1, row_number() OVER o AS cum, lead(x) OVER o AS next_x FROM s';
  // greatest(n, 1): with no values on a side the statistics are not used, but 0/0 must not reach a cast.
  const diff = 'f1 / greatest(n1, 1) - f2 / greatest(n2, 1)';
  const query = `
    WITH s AS MATERIALIZED (${numericValues(tables, column, missing)}),
    t AS (
      SELECT count(d)::DOUBLE AS n1, (count(*) - count(d))::DOUBLE AS n2,
        stddev_pop(x) FILTER (WHERE d IS NULL) AS std,
        min(x) FILTER (WHERE d = 1) AS min1, max(x) FILTER (WHERE d = 1) AS max1,
        min(x) FILTER (WHERE d IS NULL) AS min2, max(x) FILTER (WHERE d IS NULL) AS max2
      FROM s
    ),
    w AS (${window} WINDOW o AS (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
    b AS (
      SELECT x, next_x, f1::DOUBLE AS f1, (cum - f1)::DOUBLE AS f2, t.*
      FROM w CROSS JOIN t WHERE next_x IS NULL OR next_x <> x
    )
    SELECT
      least(9, floor(10 * f2 / greatest(n2, 1)))::INTEGER AS decile,
      count(*) AS distinct_values,
      max(${diff}) AS d_max,
      min(${diff}) AS d_min,
      sum(abs(${diff}) * (next_x - x)) AS wasserstein,
      min(x) AS edge,
      min(f1) AS f1,
      min(f2) AS f2,
      any_value(COLUMNS(['n1', 'n2', 'std', 'min1', 'max1', 'min2', 'max2']))
    FROM b GROUP BY ALL ORDER BY decile`;
  // Rows at the last value of each tie group ("b") carry the ECDFs there. Grouped by which tenth of the
  // reference they lie in, the first row of group k is where the reference's ECDF first reaches k/10.
  const rows = await sql.all(query);
  const groups = rows.map((r) => ({
    decile: Number(r.decile),
    distinct: Number(r.distinct_values),
    dMax: Number(r.d_max),
    dMin: Number(r.d_min),
    wasserstein: Number(r.wasserstein ?? 0),
    edge: Number(r.edge),
    f1: Number(r.f1),
    f2: Number(r.f2),
  }));
  const t = rows[0] ?? {};
  const n1 = Number(t.n1 ?? 0);
  const n2 = Number(t.n2 ?? 0);
  const range = (min: unknown, max: unknown): [number, number] | null =>
    min === null || min === undefined ? null : [number(min), number(max)];
  const distinct = groups.reduce((s, g) => s + g.distinct, 0);
  return {
    kind: 'numeric',
    n: { data: n1, reference: n2 },
    range: { data: range(t.min1, t.max1), reference: range(t.min2, t.max2) },
    distinct,
    // SciPy: D = max(max diff, -min diff); both sides of 0 are always reached (the last value has diff 0).
    ksStatistic: Math.max(Math.max(...groups.map((g) => g.dMax)), -Math.min(...groups.map((g) => g.dMin))),
    wasserstein: groups.reduce((s, g) => s + g.wasserstein, 0),
    referenceStd: number(t.std),
    few: n1 > 0 && n2 > 0 && distinct <= FEW_VALUES ? await valueCounts(sql, column, missing, tables) : null,
    deciles: decileBins(groups, n1, n2),
  };
}

/** Counts per value, for a column with only a handful of them (hashing a handful of groups is cheap). */
async function valueCounts(
  sql: Sql,
  column: string,
  missing: readonly string[],
  tables: Tables,
): Promise<NonNullable<NumericSummary['few']>> {
  const rows = await sql.all(
    `SELECT x, count(d) AS data, count(*) - count(d) AS reference
     FROM (${numericValues(tables, column, missing)}) GROUP BY x ORDER BY x`,
  );
  return rows.map((r) => ({ value: Number(r.x), data: Number(r.data), reference: Number(r.reference) }));
}

/**
 * Edge k (k = 1..9) is the smallest reference value whose ECDF reaches k/10 (numpy's 'inverted_cdf'
 * quantile), found as the first row of the first group at or above k; equal edges merge.
 */
function decileBins(
  groups: { decile: number; edge: number; f1: number; f2: number }[],
  n1: number,
  n2: number,
): Bins {
  const edges: number[] = [];
  const data: number[] = [];
  const reference: number[] = [];
  let [f1, f2] = [0, 0];
  for (let k = 1; k <= 9; k++) {
    const g = groups.find((group) => group.decile >= k);
    if (!g || g.edge === edges[edges.length - 1]) continue;
    edges.push(g.edge);
    data.push(g.f1 - f1);
    reference.push(g.f2 - f2);
    [f1, f2] = [g.f1, g.f2];
  }
  data.push(n1 - f1);
  reference.push(n2 - f2);
  return { edges, data, reference };
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
