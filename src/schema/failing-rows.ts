import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FILE_COLUMN, ident, LINE_COLUMN, literal, type Sql } from '../data/engine.js';
import { type CheckPlan, type CheckResult, type CompiledCheck, failsSql, originOf } from './checks.js';

export interface FailingRows {
  /** Rows in the CSV (at most the cap). */
  written: number;
  /** Rows that failed at least one of the checks. */
  total: number;
}

/**
 * Writes the rows of `table` that fail any of `checks` (results of runSchemaChecks on that table; pass
 * only the ones that did not pass to leave out failures within tolerance) as a CSV: __file, __line,
 * failed_checks (`age:minimum; id:unique`), then the `header` columns as read; the first `cap` rows by
 * file and line. The file is written even when no row fails, with its header line only.
 */
export async function writeFailingRows(
  sql: Sql,
  table: string,
  header: readonly string[],
  checks: readonly CheckResult[],
  path: string,
  { cap = 1000 }: { cap?: number } = {},
): Promise<FailingRows> {
  const { view, selected } = compiledChecks(table, checks);
  const labels = selected.map((c, k) => `CASE WHEN __fail${k} THEN ${literal(c.meta.id)} END`);
  const flags = selected.map((c, k) => `, ${failsSql(c)} AS __fail${k}`).join('');
  const failedChecks = labels.length > 0 ? `concat_ws('; ', ${labels.join(', ')})` : `''`;
  const failing = `SELECT *, ${failedChecks} AS failed_checks FROM (SELECT *${flags} FROM (${view})) WHERE ${failedChecks} <> ''`;

  const [{ n }] = await sql.all(`SELECT count(*) AS n FROM (${failing})`);
  const limit = Math.max(0, Math.floor(cap));
  const columns = [FILE_COLUMN, LINE_COLUMN, 'failed_checks', ...header].map(ident).join(', ');
  await mkdir(dirname(path), { recursive: true });
  await sql.all(
    `COPY (SELECT ${columns} FROM (${failing}) ORDER BY ${FILE_COLUMN}, ${LINE_COLUMN} LIMIT ${limit}) TO ${literal(path)} (FORMAT csv, HEADER)`,
  );
  const total = Number(n);
  return { written: Math.min(total, limit), total };
}

/** The SQL behind the results; fieldsMatch is about no row and drops out. */
function compiledChecks(table: string, checks: readonly CheckResult[]) {
  let plan: CheckPlan | undefined;
  const selected: CompiledCheck[] = [];
  for (const result of checks) {
    const origin = originOf(result);
    if (!origin) {
      if (result.constraint === 'fieldsMatch') continue;
      throw new Error(
        `check ${result.id} is not a result of runSchemaChecks (copied results lose their SQL)`,
      );
    }
    if (origin.plan.table !== table || (plan && origin.plan !== plan))
      throw new Error(`check ${result.id} comes from another run than the one on table ${table}`);
    plan = origin.plan;
    selected.push(origin.check);
  }
  return { view: plan?.view ?? `SELECT * FROM ${ident(table)}`, selected };
}
