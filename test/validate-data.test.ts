import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateData } from '../src/commands/validate-data.js';
import { ConfigurationError } from '../src/errors.js';
import { MemoryLogger } from '../src/logging.js';
import type { Report } from '../src/report/types.js';
import { loadActionSpec } from '../src/runtime/action-spec.js';
import { execute } from '../src/runtime/execute.js';

const example = (f: string) => resolve('examples', 'data', f);
const spec = loadActionSpec('validate-data');

async function run(inputs: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-vd-'));
  const values: Record<string, string> = { 'report-path': join(dir, 'report.json'), ...inputs };
  for (const name of Object.keys(values)) if (!(name in spec.inputs)) throw new Error(`no input ${name}`);
  const raw = { get: (name: string) => values[name] ?? spec.inputs[name]?.default ?? '' };
  const outcome = await execute(validateData, raw, new MemoryLogger());
  const report = JSON.parse(readFileSync(outcome.reportPath!, 'utf8')) as Report;
  return { outcome, report, details: report.details as Record<string, any>, dir };
}

describe('validate-data on the shipped example', () => {
  it('finds every planted problem: schema violations with their lines, the drifted columns, the null jump', async () => {
    const { outcome, report, details } = await run({
      data: example('current.csv'),
      reference: example('reference.csv'),
      schema: example('schema.yml'),
    });
    expect(outcome.exitCode).toBe(1);
    const failed = (details.schema.checks as any[]).filter((c) => !c.passed).map((c) => c.id);
    expect(failed).toEqual(
      expect.arrayContaining([
        'age:minimum',
        'primaryKey',
        'plan:enum',
        'tenure_months:type',
        'days_since_last_login:required',
      ]),
    );
    const age = details.schema.checks.find((c: any) => c.id === 'age:minimum');
    expect(age.failed).toBe(3);
    expect(age.examples.map((e: any) => e.line)).toEqual([19, 1236, 4323]);
    expect(report.metrics.schema_errors).toBe(failed.length);
    const drifted = details.drift.drifted as string[];
    expect(details.drift.identifiers).toEqual(['customer_id']);
    expect(drifted).toEqual(expect.arrayContaining(['monthly_charges', 'plan', 'days_since_last_login']));
    expect(drifted).not.toContain('tenure_months');
    expect(drifted).not.toContain('region');
    expect(report.gates.map((g) => [g.expression, g.passed])).toEqual([
      ['schema_errors == 0', false],
      ['drift_share <= 0.3', true],
    ]);
    const csv = readFileSync(details.failingRows.path, 'utf8').split('\n');
    expect(csv[0]).toContain('__line');
    expect(csv.some((l) => l.includes('age:minimum'))).toBe(true);
  });

  it('passes the reference against itself, and reports every column even when it passes', async () => {
    const { outcome, details } = await run({
      data: example('reference.csv'),
      reference: example('reference.csv'),
      schema: example('schema.yml'),
    });
    expect(outcome.exitCode).toBe(0);
    expect(details.drift.drift_share).toBe(0);
    expect(details.drift.columns).toHaveLength(12);
    expect(details.drift.identifiers).toEqual(['customer_id']);
    for (const c of details.drift.columns) expect(c.method).toBeTruthy();
  });

  it('infers a schema that the same data then passes', async () => {
    const first = await run({
      data: example('reference.csv'),
      'infer-schema': join(mkdtempSync(join(tmpdir(), 'mlgate-infer-')), 'inferred.yml'),
    });
    const path = first.details.inferredSchemaPath as string;
    expect(existsSync(path)).toBe(true);
    const again = await run({ data: example('reference.csv'), schema: path });
    expect(again.outcome.exitCode).toBe(0);
    expect(again.report.metrics.schema_errors).toBe(0);
  });

  it('gates on null fractions, row counts and per-column drift scores', async () => {
    const { report } = await run({
      data: example('current.csv'),
      reference: example('reference.csv'),
      gates: 'rows >= 1000\nnull_fraction(days_since_last_login) <= 0.02\ndrift_score(tenure_months) <= 0.1',
    });
    expect(report.gates.map((g) => g.passed)).toEqual([true, false, true]);
  });

  it('refuses bad configuration with exit 2 and a message naming the input', async () => {
    const unknown = await run({ data: example('current.csv'), gates: 'null_fraction(agee) <= 0.1' });
    expect(unknown.outcome.exitCode).toBe(2);
    expect(unknown.outcome.error).toBeInstanceOf(ConfigurationError);
    expect(unknown.outcome.error!.message).toMatch(/null_fraction\(age\)/);
    const dir = mkdtempSync(join(tmpdir(), 'mlgate-vd-bad-'));
    const schema = join(dir, 'schema.yml');
    writeFileSync(schema, 'fields:\n  - name: age\n    type: integr\n');
    const badSchema = await run({ data: example('current.csv'), schema });
    expect(badSchema.outcome.exitCode).toBe(2);
    expect(badSchema.outcome.error!.message).toMatch(/fields\[0\]/);
    const missing = await run({ data: example('nope.csv') });
    expect(missing.outcome.exitCode).toBe(2);
    expect(missing.outcome.error!.message).toMatch(/nope\.csv/);
  });
});

describe('validate-data on bad data files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlgate-vd-files-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it.each([
    ['empty.csv', '', /empty\.csv: the file is empty/],
    ['header-only.csv', 'a,b\n', /header-only\.csv: the file has a header but no data rows/],
    [
      'ragged.csv',
      'a,b\n1,2\n3,4,5\n6,7\n',
      /ragged\.csv, line 3: the row has 3 fields but the header has 2/,
    ],
    [
      'semicolons.csv',
      'a;b;c\n1;2;3\n',
      /semicolons\.csv: the header is one column "a;b;c", which looks semicolon-delimited/,
    ],
  ])('%s: exit 2 with the file (and line) named', async (name, text, message) => {
    const { outcome } = await run({ data: file(name, text) });
    expect(outcome.exitCode).toBe(2);
    expect(outcome.error).toBeInstanceOf(ConfigurationError);
    expect(outcome.error!.message).toMatch(message);
  });

  it('reports columns present on one side only, and still tests the shared ones', async () => {
    const data = file('data.csv', 'a,b,extra\n1,x,9\n2,y,9\n3,x,9\n');
    const reference = file('reference.csv', 'a,b,gone\n1,x,0\n2,y,0\n3,y,0\n');
    const { outcome, report, details } = await run({ data, reference, 'drift-columns': 'a,b,gone' });
    expect(outcome.exitCode).toBe(0);
    expect(report.warnings.join('\n')).toMatch(/gone \(only in reference\), extra \(only in data\)/);
    const gone = details.drift.columns.find((c: any) => c.column === 'gone');
    expect(gone.verdict).toBe('missing_column');
    expect(details.drift.columns.find((c: any) => c.column === 'a').verdict).toBe('no_drift');
  });

  it('counts a value that does not parse as its declared type as a failed check on its row', async () => {
    const data = file('typed.csv', 'id,age\n1,30\n2,thirty\n3,40\n');
    const schema = file(
      'typed.yml',
      'fields:\n  - { name: id, type: integer }\n  - { name: age, type: integer }\n',
    );
    const { outcome, details } = await run({ data, schema });
    expect(outcome.exitCode).toBe(1);
    const check = details.schema.checks.find((c: any) => c.id === 'age:type');
    expect(check).toMatchObject({ passed: false, failed: 1 });
    expect(check.examples).toEqual([{ file: join(dir, 'typed.csv'), line: 3, value: 'thirty' }]);
  });
});

describe('validate-data on Parquet', () => {
  it('gives the same checks and drift verdicts as the CSV it was written from', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const dir = mkdtempSync(join(tmpdir(), 'mlgate-vd-parquet-'));
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    for (const name of ['current', 'reference']) {
      await conn.run(
        `COPY (SELECT * FROM read_csv('${example(`${name}.csv`)}', all_varchar = true)) TO '${join(dir, `${name}.parquet`)}' (FORMAT parquet)`,
      );
    }
    conn.closeSync();
    db.closeSync();
    const inputs = (ext: string, base: string) => ({
      data: join(base, `current.${ext}`),
      reference: join(base, `reference.${ext}`),
      schema: example('schema.yml'),
    });
    const csv = await run(inputs('csv', resolve('examples', 'data')));
    const parquet = await run(inputs('parquet', dir));
    const failed = (d: Record<string, any>) =>
      d.schema.checks.filter((c: any) => !c.passed).map((c: any) => [c.id, c.failed]);
    expect(failed(parquet.details)).toEqual(failed(csv.details));
    expect(parquet.details.drift.drifted).toEqual(csv.details.drift.drifted);
    expect(parquet.report.metrics.drift_share).toBe(csv.report.metrics.drift_share);
  });
});

describe('validate-data drift-config', () => {
  it('takes inline YAML or a file, and names a config file that does not exist', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlgate-vd-config-'));
    const config = join(dir, 'drift.yml');
    writeFileSync(config, 'columns:\n  monthly_charges: { method: psi, threshold: 0.2 }\n');
    const base = { data: example('current.csv'), reference: example('reference.csv') };
    for (const driftConfig of [config, 'columns:\n  monthly_charges: { method: psi, threshold: 0.2 }\n']) {
      const { details } = await run({ ...base, 'drift-config': driftConfig });
      expect(details.drift.columns.find((c: any) => c.column === 'monthly_charges')).toMatchObject({
        method: 'psi',
        threshold: 0.2,
      });
    }
    const missing = await run({ ...base, 'drift-config': join(dir, 'nope.yml') });
    expect(missing.outcome.exitCode).toBe(2);
    expect(missing.outcome.error!.message).toMatch(/input "drift-config": file not found: .*nope\.yml/);
  });
});
