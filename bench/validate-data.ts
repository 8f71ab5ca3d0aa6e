/**
 * validate-data on 1,000,000 rows x 20 columns (14 numeric, 6 categorical) against a schema and a
 * 1,000,000-row reference, against a pandas + SciPy script doing the same checks
 * (bench/pandas_data_eval.py: read_csv, per-column null/range/enum checks, ks_2samp and
 * chi2_contingency per column). Also peak RSS at 1M and at `--data-rows-large` rows.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Engine, ident } from '../src/data/engine.js';
import { MemoryLogger } from '../src/logging.js';
import { ensureGenerated, fmt, median3, mlgate, printTable, python } from './common.js';

/**
 * The least DuckDB work any exact answer needs here: load both files, and sort every numeric column of
 * each (exact KS and Wasserstein need the order). What validate-data does beyond this is the checks.
 */
async function duckdbFloor(dir: string, numeric: string[]): Promise<number> {
  const engine = await Engine.open(new MemoryLogger(), { tables: true });
  try {
    const started = performance.now();
    await Promise.all(
      ['data', 'reference'].map(async (side) => {
        const file = { path: join(dir, `${side}.csv`), format: 'csv' as const, gzip: false };
        await engine.loadText(side, [file], await engine.columns(file));
      }),
    );
    for (const column of numeric) {
      for (const side of ['data', 'reference']) {
        const values = `SELECT TRY_CAST(${ident(column)} AS DOUBLE) AS x FROM ${side} WHERE ${ident(column)} IS NOT NULL`;
        for await (const _ of engine.doubles(`SELECT x FROM (${values}) WHERE isfinite(x) ORDER BY x`));
      }
    }
    return (performance.now() - started) / 1000;
  } finally {
    engine.close();
  }
}

export async function benchValidateData(rows: number, largeRows: number) {
  const dirOf = (n: number) => resolve('bench', 'data', 'validate-data', String(n));
  const generate = (n: number) =>
    ensureGenerated(dirOf(n), ['data.csv', 'reference.csv', 'schema.json'], 'bench/make_data_bench.py', [
      '--rows',
      String(n),
    ]);
  const run = (n: number) => {
    const dir = dirOf(n);
    const args = [
      '--data',
      join(dir, 'data.csv'),
      '--reference',
      join(dir, 'reference.csv'),
      '--schema',
      join(dir, 'schema.json'),
      '--gates',
      'rows >= 1',
    ];
    const { wall, report } = mlgate('validate-data', args, join(dir, 'report.json'));
    const d = report.details;
    return {
      wall,
      seconds: d.performance.seconds as number,
      rssMb: d.performance.peakRssMb as number,
      schemaErrors: report.metrics.schema_errors as number,
      drifted: (d.drift?.drifted ?? []) as string[],
    };
  };

  generate(rows);
  console.log(
    `\nvalidate-data: ${rows.toLocaleString('en-US')} rows x 20 columns against a schema and a ${rows.toLocaleString('en-US')}-row reference\n`,
  );
  const { median: ours, all } = median3(() => run(rows));
  const dir = dirOf(rows);
  const ref = python<{ seconds: number; peak_rss_mb: number; failed_checks: number; drifted: string[] }>(
    'bench/pandas_data_eval.py',
    [join(dir, 'data.csv'), join(dir, 'reference.csv'), join(dir, 'schema.json')],
  );
  const schema = JSON.parse(readFileSync(join(dir, 'schema.json'), 'utf8')) as {
    fields: { name: string; type: string }[];
  };
  const floor = await duckdbFloor(
    dir,
    schema.fields.filter((f) => f.type === 'number' || f.type === 'integer').map((f) => f.name),
  );
  generate(largeRows);
  const large = run(largeRows);
  printTable([
    ['figure', 'mlgate', 'reference', 'ratio', 'target'],
    [
      'seconds (in process)',
      fmt(ours.seconds),
      `pandas + SciPy ${fmt(ref.seconds)}`,
      `${fmt(ref.seconds / ours.seconds)}x faster`,
      '>= 3x faster',
    ],
    ['wall seconds incl. process start', fmt(ours.wall), '', '', ''],
    [
      'DuckDB floor: load both, sort each numeric column',
      fmt(floor),
      '',
      `at best ${fmt(ref.seconds / floor)}x faster`,
      '',
    ],
    [
      `peak RSS MB, ${rows.toLocaleString('en-US')} rows`,
      fmt(ours.rssMb, 0),
      fmt(ref.peak_rss_mb, 0),
      '',
      '< 1024',
    ],
    [
      `peak RSS MB, ${largeRows.toLocaleString('en-US')} rows`,
      fmt(large.rssMb, 0),
      '',
      `${fmt(large.rssMb / ours.rssMb)}x of ${rows.toLocaleString('en-US')}`,
      'roughly flat',
    ],
    ['drifted columns', ours.drifted.join(' '), ref.drifted.join(' '), '', ''],
  ]);
  console.log(
    `\nmlgate runs (s): ${all.map((r) => fmt(r.seconds)).join(', ')}; ${largeRows.toLocaleString('en-US')} rows: ${fmt(large.seconds)} s`,
  );
}
