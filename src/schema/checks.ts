import { FILE_COLUMN, ident, LINE_COLUMN, literal, type Sql } from '../data/engine.js';
import { ConfigurationError } from '../errors.js';
import {
  CONSTRAINTS,
  type ConstraintName,
  DEFAULT_FALSE_VALUES,
  DEFAULT_MISSING_VALUES,
  DEFAULT_TRUE_VALUES,
  type Field,
  type FieldsMatch,
  ISO,
  schemaSource,
  type TableSchema,
} from './table-schema.js';

export type CheckName = 'type' | ConstraintName | 'primaryKey' | 'uniqueKeys' | 'fieldsMatch';

export interface CheckExample {
  file: string;
  line: number;
  /** The raw text of the cell (several cells joined by ", " for a key); null when missing. */
  value: string | null;
}

export interface CheckResult {
  /** The check's name in the failing-rows CSV: `age:minimum`, `primaryKey`, `uniqueKeys(a,b)`, `fieldsMatch`. */
  id: string;
  /** null for the checks on whole rows (primaryKey, uniqueKeys, fieldsMatch). */
  column: string | null;
  /** The key's columns, for primaryKey and uniqueKeys. */
  columns?: string[];
  constraint: CheckName;
  /** What the check asks for: the constraint's value, the type, the fieldsMatch mode. */
  expected: unknown;
  failed: number;
  /** Rows the check looked at: non-missing ones for type and value constraints, every row for required and keys. */
  checked: number;
  /** The share of checked rows that must pass (the schema's `mostly`; 1 for keys and fieldsMatch). */
  tolerance: number;
  passed: boolean;
  /** The first failing rows by file and line. */
  examples: CheckExample[];
}

export interface FieldsMatchResult {
  mode: FieldsMatch;
  passed: boolean;
  /** Fields the data has no column for. */
  missing: string[];
  /** Columns no field describes. */
  extra: string[];
  /** The shared names come in a different order (only `exact` minds). */
  outOfOrder: boolean;
}

export interface SchemaCheckResults {
  rows: number;
  fieldsMatch: FieldsMatchResult;
  /** Every check the schema asks for, passed or not, fieldsMatch first, then by field, then keys. */
  checks: CheckResult[];
}

/** One check as SQL over the plan's view, which adds per field i: __r{i} raw text, __m{i} missing, __t{i} typed. */
export interface CompiledCheck {
  meta: Pick<CheckResult, 'id' | 'column' | 'columns' | 'constraint' | 'expected' | 'tolerance'>;
  /** Rows the check looks at. */
  checked: string;
  /** Rows that fail on their own values. */
  fails: string;
  /** Typed key whose duplicated values also fail: counted by GROUP BY, marked per row by a window. */
  duplicateKey?: string[];
  /** An example's value. */
  value: string;
}

export interface CheckPlan {
  table: string;
  /** The table plus the per-field columns the checks read (DuckDB prunes those a query does not use). */
  view: string;
  fieldsMatch: FieldsMatchResult;
  checks: CompiledCheck[];
}

const INTEGER = '[+-]?[0-9]+';
const STRING_FORMATS: Record<string, string> = {
  email: '[^@\\s]+@[^@\\s]+[.][^@\\s]+',
  uri: '[A-Za-z][A-Za-z0-9+.-]*:\\S+',
  uuid: '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}',
  binary: '([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?',
};
const OFFSET = '[+-][0-9]{2}:?[0-9]{2}$';

/** SQL that is true when the text `raw` is missing: NULL (an empty cell) or one of the missing values. */
export function missingSql(raw: string, missingValues: readonly string[]): string {
  const listed = missingValues.filter((v) => v !== '');
  return listed.length === 0
    ? `(${raw} IS NULL)`
    : `(${raw} IS NULL OR ${raw} IN (${listed.map(literal).join(', ')}))`;
}

/**
 * SQL for the logical value of the text `raw` under the field's type and format; NULL where the text
 * does not parse. Casts are gated by a pattern where DuckDB's are lenient ('1.5', '0x10' and '1_000'
 * all cast to BIGINT; a date cast takes '2024-01-31 10:00'), and datetimes with an offset are
 * normalised to UTC. NaN and Infinity are numbers, as in the spec (list them in missingValues if not).
 */
export function typedSql(field: Field, raw: string): string {
  const format = field.format && field.format !== 'default' ? field.format : undefined;
  const gated = (pattern: string, then: string) =>
    `CASE WHEN regexp_full_match(${raw}, ${literal(pattern)}) THEN ${then} END`;
  const strptime = (pattern: string) => {
    const parsed = `try_strptime(${raw}, ${literal(pattern)})`;
    return /%[zZ]/.test(pattern) ? `timezone('UTC', ${parsed})` : parsed;
  };
  switch (field.type) {
    case 'any':
      return raw;
    case 'string':
      return format ? gated(STRING_FORMATS[format], raw) : raw;
    case 'boolean': {
      const values = (list: string[]) => list.map(literal).join(', ');
      return `CASE WHEN ${raw} IN (${values(field.trueValues ?? DEFAULT_TRUE_VALUES)}) THEN TRUE WHEN ${raw} IN (${values(field.falseValues ?? DEFAULT_FALSE_VALUES)}) THEN FALSE END`;
    }
    case 'integer':
    case 'number': {
      const text = numberText(field, raw);
      // DuckDB reads a DOUBLE as Python's float() does (underscores between digits, surrounding spaces),
      // but rounds '1.5' to a BIGINT: integers are gated, numbers are not (the gate doubled their cost).
      return field.type === 'integer'
        ? `CASE WHEN regexp_full_match(${text}, ${literal(INTEGER)}) THEN TRY_CAST(${text} AS BIGINT) END`
        : `TRY_CAST(${text} AS DOUBLE)`;
    }
    case 'year':
      return gated('[0-9]{4}', `CAST(${raw} AS INTEGER)`);
    case 'date':
      if (format === 'any') return `TRY_CAST(${raw} AS DATE)`;
      return format ? `CAST(${strptime(format)} AS DATE)` : gated(ISO.date, `TRY_CAST(${raw} AS DATE)`);
    case 'time':
      if (format === 'any') return `TRY_CAST(${raw} AS TIME)`;
      return format ? `CAST(${strptime(format)} AS TIME)` : gated(ISO.time, `TRY_CAST(${raw} AS TIME)`);
    case 'datetime':
      if (format === 'any') return `TRY_CAST(${raw} AS TIMESTAMP)`;
      if (format) return `CAST(${strptime(format)} AS TIMESTAMP)`;
      return gated(
        ISO.datetime,
        `CASE WHEN regexp_matches(${raw}, ${literal(OFFSET)}) THEN timezone('UTC', TRY_CAST(${raw} AS TIMESTAMPTZ)) ELSE TRY_CAST(${raw} AS TIMESTAMP) END`,
      );
  }
}

/** The number's text with the field's group and decimal characters (and, unless bare, its unit) removed. */
function numberText(field: Field, raw: string): string {
  let text = raw;
  if (field.groupChar) text = `replace(${text}, ${literal(field.groupChar)}, '')`;
  if (field.decimalChar && field.decimalChar !== '.')
    text = `replace(${text}, ${literal(field.decimalChar)}, '.')`;
  if (field.bareNumber === false) text = `regexp_replace(${text}, '^[^0-9+.-]+|[^0-9.]+$', '', 'g')`;
  return text;
}

/** A constraint value (as the schema document holds it) as a SQL value of the field's type. */
function valueSql(field: Field, value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'number') return `CAST(${literal(String(value))} AS DOUBLE)`;
  // Bounds of dates and times are ISO 8601 whatever the field's format: read them with the default one.
  if (field.type === 'date' || field.type === 'time' || field.type === 'datetime')
    return typedSql({ name: field.name, type: field.type }, literal(value));
  return literal(value);
}

const COMPARISONS = { minimum: '<', maximum: '>', exclusiveMinimum: '<=', exclusiveMaximum: '>=' } as const;

/** Compiles every check the schema asks of `table` (whose data columns are `header`) to SQL. */
export function planChecks(table: string, header: readonly string[], schema: TableSchema): CheckPlan {
  const columns = new Set(header);
  const index = new Map(schema.fields.map((field, i) => [field.name, i]));
  const projections = schema.fields.map((field, i) => {
    const raw = columns.has(field.name) ? ident(field.name) : 'NULL::VARCHAR';
    const missing = missingSql(raw, field.missingValues ?? schema.missingValues ?? DEFAULT_MISSING_VALUES);
    return `${raw} AS __r${i}, ${missing} AS __m${i}, CASE WHEN ${missing} THEN NULL ELSE ${typedSql(field, raw)} END AS __t${i}`;
  });
  const view = `SELECT *${projections.map((p) => `, ${p}`).join('')} FROM ${ident(table)}`;
  const checks = schema.fields.flatMap((field, i) => fieldChecks(field, i));
  const keyCheck = (constraint: 'primaryKey' | 'uniqueKeys', key: string[]): CompiledCheck => {
    const at = key.map((name) => index.get(name)!);
    const value =
      at.length === 1
        ? `__r${at[0]}`
        : `concat_ws(', ', ${at.map((i) => `coalesce(__r${i}, '')`).join(', ')})`;
    const anyMissing = at.map((i) => `__m${i}`).join(' OR ');
    return {
      meta: {
        id: constraint === 'primaryKey' ? constraint : `${constraint}(${key.join(',')})`,
        column: null,
        columns: key,
        constraint,
        expected: key,
        tolerance: 1,
      },
      // A primary key may not be missing; a unique key with a missing part is exempt, as in SQL.
      checked: constraint === 'primaryKey' ? 'TRUE' : `NOT (${anyMissing})`,
      fails: constraint === 'primaryKey' ? `(${anyMissing})` : 'FALSE',
      duplicateKey: at.map((i) => `__t${i}`),
      value,
    };
  };
  if (schema.primaryKey) checks.push(keyCheck('primaryKey', schema.primaryKey));
  for (const key of schema.uniqueKeys ?? []) checks.push(keyCheck('uniqueKeys', key));
  return { table, view, fieldsMatch: matchFields(schema, header), checks };
}

function fieldChecks(field: Field, i: number): CompiledCheck[] {
  const [r, m, t] = [`__r${i}`, `__m${i}`, `__t${i}`];
  const checks: CompiledCheck[] = [];
  const add = (constraint: CheckName, expected: unknown, tolerance: number, sql: Partial<CompiledCheck>) =>
    checks.push({
      meta: { id: `${field.name}:${constraint}`, column: field.name, constraint, expected, tolerance },
      checked: `${t} IS NOT NULL`,
      fails: 'FALSE',
      value: r,
      ...sql,
    });
  const canFailType = field.type !== 'any' && !(field.type === 'string' && !field.format);
  if (canFailType) {
    const expected = field.format ? `${field.type} (${field.format})` : field.type;
    add('type', expected, field.mostly ?? 1, { checked: `NOT ${m}`, fails: `(NOT ${m} AND ${t} IS NULL)` });
  }
  const constraints = field.constraints ?? {};
  const tolerance = constraints.mostly ?? field.mostly ?? 1;
  for (const name of CONSTRAINTS) {
    const value = constraints[name];
    if (value === undefined || value === false) continue;
    switch (name) {
      case 'required':
        add(name, true, tolerance, { checked: 'TRUE', fails: m });
        break;
      case 'unique':
        add(name, true, tolerance, { duplicateKey: [t] });
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        add(name, value, tolerance, {
          fails: `(${t} ${COMPARISONS[name]} ${valueSql(field, value as string | number)})`,
        });
        break;
      case 'minLength':
      case 'maxLength':
        add(name, value, tolerance, { fails: `(length(${t}) ${name === 'minLength' ? '<' : '>'} ${value})` });
        break;
      case 'pattern':
        // The pattern reads the cell's text, as the spec says: it can check how numbers and dates are written.
        add(name, value, tolerance, {
          checked: `NOT ${m}`,
          fails: `(NOT ${m} AND NOT regexp_full_match(${r}, ${literal(value as string)}))`,
        });
        break;
      case 'enum': {
        const values = (value as (string | number | boolean)[]).map((v) => valueSql(field, v)).join(', ');
        add(name, value, tolerance, { fails: `(${t} NOT IN (${values}))` });
        break;
      }
    }
  }
  return checks;
}

/** The header against the fields, in the schema's fieldsMatch mode; columns are always mapped by name. */
function matchFields(schema: TableSchema, header: readonly string[]): FieldsMatchResult {
  const mode = schema.fieldsMatch ?? 'exact';
  const names = schema.fields.map((f) => f.name);
  const missing = names.filter((name) => !header.includes(name));
  const extra = header.filter((name) => !names.includes(name));
  const shared = names.filter((name) => header.includes(name));
  const outOfOrder = header.filter((name) => names.includes(name)).some((name, i) => name !== shared[i]);
  const passed = {
    exact: missing.length === 0 && extra.length === 0 && !outOfOrder,
    equal: missing.length === 0 && extra.length === 0,
    subset: missing.length === 0,
    superset: extra.length === 0,
    partial: shared.length > 0,
  }[mode];
  return { mode, passed, missing, extra, outOfOrder };
}

/** fieldsMatch as a check: failed counts the names that break the mode (1 for an order that does). */
function fieldsMatchCheck(
  match: FieldsMatchResult,
  schema: TableSchema,
  header: readonly string[],
): CheckResult {
  const { mode, missing, extra } = match;
  const names = schema.fields.map((f) => f.name);
  const counted = {
    exact: missing.length + extra.length + (match.outOfOrder ? 1 : 0),
    equal: missing.length + extra.length,
    subset: missing.length,
    superset: extra.length,
    partial: match.passed ? 0 : names.length,
  };
  return {
    id: 'fieldsMatch',
    column: null,
    constraint: 'fieldsMatch',
    expected: mode,
    failed: counted[mode],
    checked: new Set([...names, ...header]).size,
    tolerance: 1,
    passed: match.passed,
    examples: [],
  };
}

/** The compiled form of each result of runSchemaChecks, so that its failing rows can be selected again. */
const origins = new WeakMap<CheckResult, { plan: CheckPlan; check: CompiledCheck }>();

/** How a result of runSchemaChecks was checked; undefined for fieldsMatch, which is about no row. */
export function originOf(result: CheckResult): { plan: CheckPlan; check: CompiledCheck } | undefined {
  return origins.get(result);
}

/** The row predicate of a check, duplicates included: true on every row the check fails. */
export function failsSql(check: CompiledCheck): string {
  const key = check.duplicateKey;
  if (!key) return check.fails;
  const present = key.map((k) => `${k} IS NOT NULL`).join(' AND ');
  return `(${check.fails} OR (${present} AND count(*) OVER (PARTITION BY ${key.join(', ')}) > 1))`;
}

/** Rows whose typed key value another row shares; rows with a part that is missing or unparsed are exempt. */
function duplicatesSql(view: string, key: string[]): string {
  const present = key.map((k) => `${k} IS NOT NULL`).join(' AND ');
  return `(SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM (${view}) WHERE ${present} GROUP BY ${key.join(', ')} HAVING count(*) > 1))`;
}

/**
 * Runs the schema's checks on `table`: one aggregate pass over the table for every check (duplicate
 * keys as GROUP BY subqueries of the same statement), then one statement for the examples of the
 * checks that found failures.
 */
export async function runSchemaChecks(
  sql: Sql,
  table: string,
  header: readonly string[],
  schema: TableSchema,
  { examples = 5 }: { examples?: number } = {},
): Promise<SchemaCheckResults> {
  await assertExpressionsCompile(sql, schema);
  const plan = planChecks(table, header, schema);
  const counts = plan.checks.flatMap((c, k) => [
    `count_if(${c.checked}) AS __c${k}`,
    `count_if(${c.fails}) AS __f${k}`,
  ]);
  // A primary key that is also a unique field (`id`) is one GROUP BY, not two.
  const keys = new Map(
    plan.checks.flatMap((c) => (c.duplicateKey ? [[c.duplicateKey.join(), c.duplicateKey]] : [])),
  );
  const duplicates = [...keys.values()]
    .map((key, d) => `, ${duplicatesSql(plan.view, key)} AS __d${d}`)
    .join('');
  const [row] = await sql.all(
    `SELECT a.*${duplicates} FROM (SELECT ${['count(*) AS __rows', ...counts].join(', ')} FROM (${plan.view})) a`,
  );
  const rows = Number(row.__rows);
  const checks: CheckResult[] = plan.checks.map((c, k) => {
    const d = c.duplicateKey ? [...keys.keys()].indexOf(c.duplicateKey.join()) : -1;
    const failed = Number(row[`__f${k}`]) + (d >= 0 ? Number(row[`__d${d}`]) : 0);
    const checked = Number(row[`__c${k}`]);
    const passed = withinTolerance(failed, checked, c.meta.tolerance);
    const result: CheckResult = { ...c.meta, failed, checked, passed, examples: [] };
    origins.set(result, { plan, check: c });
    return result;
  });
  await attachExamples(sql, plan, checks, examples);
  const fieldsMatch = fieldsMatchCheck(plan.fieldsMatch, schema, header);
  return { rows, fieldsMatch: plan.fieldsMatch, checks: [fieldsMatch, ...checks] };
}

function withinTolerance(failed: number, checked: number, tolerance: number): boolean {
  // The epsilon keeps 0.99 of 100 rows at 99 rows rather than 99.00000000000001.
  return checked === 0 || (checked - failed) / checked >= tolerance - 1e-12;
}

async function attachExamples(sql: Sql, plan: CheckPlan, checks: CheckResult[], examples: number) {
  const failing = plan.checks.flatMap((_, k) => (checks[k].failed > 0 ? [k] : []));
  if (examples <= 0 || failing.length === 0) return;
  const parts = failing.map((k) => {
    const c = plan.checks[k];
    return `(SELECT ${k} AS k, ${FILE_COLUMN}, ${LINE_COLUMN}, value FROM (SELECT ${FILE_COLUMN}, ${LINE_COLUMN}, ${c.value} AS value, ${failsSql(c)} AS f FROM (${plan.view})) WHERE f ORDER BY ${FILE_COLUMN}, ${LINE_COLUMN} LIMIT ${Math.floor(examples)})`;
  });
  const rows = await sql.all(
    `SELECT * FROM (${parts.join(' UNION ALL ')}) ORDER BY k, ${FILE_COLUMN}, ${LINE_COLUMN}`,
  );
  for (const row of rows) {
    checks[Number(row.k)].examples.push({
      file: String(row[FILE_COLUMN]),
      line: Number(row[LINE_COLUMN]),
      value: row.value === null ? null : String(row.value),
    });
  }
}

/** Regular expressions and strptime patterns are DuckDB's (RE2) to judge: ask it, and name the bad one. */
async function assertExpressionsCompile(sql: Sql, schema: TableSchema) {
  const tries = schema.fields.flatMap((field, i) => {
    const out: { path: string; probe: string; what: string }[] = [];
    const pattern = field.constraints?.pattern;
    if (pattern)
      out.push({
        path: `fields[${i}].constraints.pattern`,
        probe: `regexp_full_match('', ${literal(pattern)})`,
        what: `pattern of field "${field.name}" is not a regular expression DuckDB (RE2) accepts; lookarounds and backreferences are not supported`,
      });
    const temporal = field.type === 'date' || field.type === 'time' || field.type === 'datetime';
    if (temporal && field.format && !['default', 'any'].includes(field.format))
      out.push({
        path: `fields[${i}].format`,
        probe: `try_strptime('', ${literal(field.format)})`,
        what: `format of field "${field.name}" is not a strptime pattern DuckDB accepts`,
      });
    return out;
  });
  for (const { path, probe, what } of tries) {
    try {
      await sql.all(`SELECT ${probe}`);
    } catch (e) {
      const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      throw new ConfigurationError(`${what} (${reason})`, `${schemaSource(schema)}: ${path}`);
    }
  }
}

/** Throws a ConfigurationError naming the columns that `table` lacks. */
async function assertColumns(sql: Sql, table: string, columns: readonly string[]) {
  const present = new Set((await sql.all(`DESCRIBE ${ident(table)}`)).map((row) => String(row.column_name)));
  const absent = columns.filter((c) => !present.has(c));
  if (absent.length > 0)
    throw new ConfigurationError(
      `the data has no column ${absent.map((c) => `"${c}"`).join(', ')}; its columns are ${[...present].filter((c) => c !== FILE_COLUMN && c !== LINE_COLUMN).join(', ')}`,
    );
}

/** Per column, the share of rows that are missing; NaN when the table is empty (a metric that cannot be computed). */
export async function nullFractions(
  sql: Sql,
  table: string,
  columns: readonly string[],
  missingValues: readonly string[] = DEFAULT_MISSING_VALUES,
): Promise<Record<string, number>> {
  await assertColumns(sql, table, columns);
  const counts = columns.map((c, i) => `count_if(${missingSql(ident(c), missingValues)}) AS m${i}`);
  const [row] = await sql.all(`SELECT ${['count(*) AS n', ...counts].join(', ')} FROM ${ident(table)}`);
  const n = Number(row.n);
  return Object.fromEntries(columns.map((c, i) => [c, n === 0 ? Number.NaN : Number(row[`m${i}`]) / n]));
}

/** Rows that repeat an earlier row's values in `columns` (as pandas' duplicated().sum() counts them). */
export async function duplicateRows(sql: Sql, table: string, columns: readonly string[]): Promise<number> {
  if (columns.length === 0) return 0;
  await assertColumns(sql, table, columns);
  // Grouping whole rows of text is slow; a row's 64-bit hash finds the few candidates, which are then
  // grouped by their values, so a hash collision cannot count as a duplicate.
  const list = columns.map(ident).join(', ');
  const [row] = await sql.all(
    `WITH repeated AS (SELECT hash(${list}) AS h FROM ${ident(table)} GROUP BY h HAVING count(*) > 1)
     SELECT coalesce(sum(n - 1), 0) AS d FROM (
       SELECT count(*) AS n FROM ${ident(table)} WHERE hash(${list}) IN (SELECT h FROM repeated) GROUP BY ${list}
     )`,
  );
  return Number(row.d);
}
