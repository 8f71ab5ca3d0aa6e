import { ident, type Sql } from '../data/engine.js';
import { missingSql, typedSql } from './checks.js';
import {
  type Constraints,
  DEFAULT_MISSING_VALUES,
  type Field,
  type FieldType,
  type TableSchema,
} from './table-schema.js';

/** Narrowest first: a column gets the first type that every one of its non-missing values parses as. */
const CANDIDATES = ['integer', 'number', 'boolean', 'date', 'datetime'] as const;
type Candidate = (typeof CANDIDATES)[number];

export interface InferOptions {
  /** A string column with at most this many distinct values gets an `enum`. */
  enumMaxDistinct?: number;
  missingValues?: string[];
}

/** Rows read first to rule out most candidate types cheaply: one value that does not parse rules a type out. */
const SAMPLE_ROWS = 10_000;

/**
 * A Table Schema for `table` (data columns `header`), for a person to review and commit: types,
 * required where nothing is missing, ranges of numbers and dates, enums of few-valued strings. The
 * values are parsed exactly as the checks parse them, so the data it came from passes it.
 *
 * Parsing every column as every type costs a full pass each, so the first rows rule types out first;
 * the full pass then confirms only the survivors (usually one) and takes ranges and approximate
 * distinct counts; a last small pass lists the enums.
 */
export async function inferSchema(
  sql: Sql,
  table: string,
  header: readonly string[],
  { enumMaxDistinct = 20, missingValues = DEFAULT_MISSING_VALUES }: InferOptions = {},
): Promise<TableSchema> {
  const projections = header.flatMap((c, i) => [
    `${ident(c)} AS __r${i}`,
    `${missingSql(ident(c), missingValues)} AS __m${i}`,
    ...CANDIDATES.map((type) => `${typedSql({ name: c, type }, ident(c))} AS __${type}${i}`),
  ]);
  // DuckDB computes only the projections that a query reads.
  const view = (source: string) => `SELECT ${projections.join(', ')} FROM ${source}`;
  const full = view(ident(table));
  const unparsed = (type: Candidate, i: number) => `count_if(NOT __m${i} AND __${type}${i} IS NULL)`;
  const distinct = (i: number) => `approx_count_distinct(__r${i}) FILTER (WHERE NOT __m${i}) AS distinct${i}`;

  const [sample] = await sql.all(
    `SELECT ${header.flatMap((_, i) => CANDIDATES.map((type) => `${unparsed(type, i)} AS not_${type}${i}`)).join(', ')} FROM (${view(`(SELECT * FROM ${ident(table)} LIMIT ${SAMPLE_ROWS})`)})`,
  );
  const survivors = header.map((_, i) =>
    CANDIDATES.filter((type) => Number(sample[`not_${type}${i}`]) === 0),
  );

  const aggregates = header.flatMap((_, i) => [
    `count_if(NOT __m${i}) AS present${i}`,
    ...survivors[i].flatMap((type) => [`${unparsed(type, i)} AS not_${type}${i}`, ...rangeSql(type, i)]),
    ...(survivors[i].length === 0 ? [distinct(i)] : []),
  ]);
  const [stats] = await sql.all(`SELECT ${['count(*) AS rows', ...aggregates].join(', ')} FROM (${full})`);
  const rows = Number(stats.rows);
  const types = header.map((_, i): FieldType => {
    if (Number(stats[`present${i}`]) === 0) return 'any';
    return survivors[i].find((type) => Number(stats[`not_${type}${i}`]) === 0) ?? 'string';
  });

  // A column whose first rows looked typed but whose later ones did not has no distinct count yet.
  const uncounted = header.flatMap((_, i) => (types[i] === 'string' && survivors[i].length > 0 ? [i] : []));
  if (uncounted.length > 0) {
    const [more] = await sql.all(`SELECT ${uncounted.map(distinct).join(', ')} FROM (${full})`);
    Object.assign(stats, more);
  }
  // HyperLogLog may count a few distinct values more or fewer: the margin keeps true candidates in.
  const enumCandidates = header.flatMap((_, i) =>
    types[i] === 'string' && Number(stats[`distinct${i}`]) <= enumMaxDistinct * 1.5 + 5 ? [i] : [],
  );
  const enums = new Map<number, string[]>();
  if (enumCandidates.length > 0) {
    const lists = enumCandidates.map(
      (i) => `list(DISTINCT __r${i} ORDER BY __r${i}) FILTER (WHERE NOT __m${i}) AS e${i}`,
    );
    const [row] = await sql.all(`SELECT ${lists.join(', ')} FROM (${full})`);
    for (const i of enumCandidates) {
      const values = (row[`e${i}`] as string[] | null) ?? [];
      if (values.length <= enumMaxDistinct) enums.set(i, values);
    }
  }

  const fields = header.map((name, i): Field => {
    const type = types[i];
    const constraints: Constraints = {};
    if (rows > 0 && Number(stats[`present${i}`]) === rows) constraints.required = true;
    const range = rangeOf(type, stats[`min_${type}${i}`], stats[`max_${type}${i}`]);
    if (range) [constraints.minimum, constraints.maximum] = range;
    const values = enums.get(i);
    if (values) constraints.enum = values;
    return Object.keys(constraints).length > 0 ? { name, type, constraints } : { name, type };
  });
  return { fields, missingValues: [...missingValues], fieldsMatch: 'exact' };
}

/** Bounds as the schema writes them: numbers as doubles, dates and datetimes as ISO 8601 text. */
function rangeSql(type: Candidate, i: number): string[] {
  const bound = (fn: 'min' | 'max') => {
    const value = `${fn}(__${type}${i})`;
    if (type === 'integer' || type === 'number') return `CAST(${value} AS DOUBLE)`;
    if (type === 'date') return `CAST(${value} AS VARCHAR)`;
    return `replace(CAST(${value} AS VARCHAR), ' ', 'T')`;
  };
  return type === 'boolean'
    ? []
    : [`${bound('min')} AS min_${type}${i}`, `${bound('max')} AS max_${type}${i}`];
}

function rangeOf(type: FieldType, min: unknown, max: unknown): [number, number] | [string, string] | null {
  if (type === 'integer' || type === 'number') {
    const bounds = [min, max].map((v) => (v === null ? Number.NaN : Number(v)));
    return bounds.every(Number.isFinite) ? [bounds[0], bounds[1]] : null;
  }
  if (type === 'date' || type === 'datetime')
    return typeof min === 'string' && typeof max === 'string' ? [min, max] : null;
  return null;
}
