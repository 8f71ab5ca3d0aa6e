import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type Sql } from '../src/data/engine.js';
import { formatOf } from '../src/data/files.js';
import { ConfigurationError } from '../src/errors.js';
import { MemoryLogger } from '../src/logging.js';
import {
  type CheckResult,
  duplicateRows,
  formatSchema,
  inferSchema,
  loadSchema,
  nullFractions,
  parseSchema,
  runSchemaChecks,
  type SchemaCheckResults,
  writeFailingRows,
} from '../src/schema/index.js';

// Real DuckDB on small CSV fixtures whose failing lines are known (line 1 is the header).
const fixture = (name: string) => resolve(import.meta.dirname, 'fixtures', 'schema', name);
const TYPED = fixture('typed.csv');

let engine: Engine;
let dir: string;
const headers = new Map<string, string[]>();

/** Loads a fixture as table `name`, all text, as validate-data does. */
async function load(name: string, file: string) {
  const data = { path: file, ...formatOf(file) };
  const header = await engine.columns(data);
  await engine.loadText(name, [data], header);
  headers.set(name, header);
}

beforeAll(async () => {
  engine = await Engine.open(new MemoryLogger());
  dir = await mkdtemp(join(tmpdir(), 'mlgate-schema-'));
  await load('typed', TYPED);
  await load('lenient', fixture('lenient.csv'));
  await load('inferred', fixture('infer.csv'));
});

afterAll(async () => {
  engine?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const check = (table: string, yaml: string, examples = 5) =>
  runSchemaChecks(engine, table, headers.get(table)!, parseSchema(yaml, 's.yaml'), { examples });

/** id -> [failed, checked, example lines], the shape the assertions below compare. */
function summary(result: SchemaCheckResults) {
  return Object.fromEntries(
    result.checks.map((c) => [c.id, [c.failed, c.checked, c.examples.map((e) => e.line)]]),
  );
}

const byId = (result: SchemaCheckResults, id: string): CheckResult => {
  const found = result.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${result.checks.map((c) => c.id).join(', ')}`);
  return found;
};

describe('runSchemaChecks', () => {
  it('checks every type and constraint, with counts and the failing lines', async () => {
    const schema = loadSchema(fixture('typed.schema.yaml'));
    const result = await runSchemaChecks(engine, 'typed', headers.get('typed')!, schema);
    expect(result.rows).toBe(5);
    expect(summary(result)).toEqual({
      fieldsMatch: [0, 13, []],
      'id:type': [0, 5, []],
      'id:unique': [2, 5, [4, 5]],
      'name:required': [1, 5, [6]],
      'name:minLength': [2, 4, [4, 5]],
      'name:maxLength': [0, 4, []],
      'age:type': [1, 4, [5]],
      'age:minimum': [1, 3, [3]],
      'age:maximum': [0, 3, []],
      'score:type': [1, 5, [5]],
      'score:exclusiveMinimum': [1, 4, [4]],
      'score:exclusiveMaximum': [1, 4, [6]],
      'active:type': [1, 5, [4]],
      'active:enum': [3, 4, [3, 5, 6]],
      'joined:type': [1, 5, [3]],
      'joined:minimum': [1, 4, [4]],
      'joined:maximum': [1, 4, [5]],
      'seen_at:type': [1, 5, [4]],
      // 10:00+02:00 is 08:00Z, before the 09:00Z minimum; 10:00Z on line 2 is not.
      'seen_at:minimum': [1, 4, [3]],
      'start:type': [1, 5, [3]],
      'start:maximum': [1, 4, [6]],
      'year:type': [1, 5, [4]],
      'year:minimum': [1, 4, [2]],
      'code:pattern': [2, 5, [3, 5]],
      'email:type': [1, 4, [3]],
      // "1.234,50" is 1234.5 with decimalChar "," and groupChar "."; "n/a" is a missing value.
      'price:type': [0, 4, []],
      'price:maximum': [1, 4, [2]],
      'status:enum': [1, 5, [5]],
      primaryKey: [2, 5, [4, 5]],
      'uniqueKeys(status)': [3, 5, [2, 4, 6]],
      'uniqueKeys(id,status)': [0, 5, []],
    });
    expect(result.checks.filter((c) => c.passed).map((c) => c.id)).toEqual([
      'fieldsMatch',
      'id:type',
      'name:maxLength',
      'age:maximum',
      'price:type',
      'uniqueKeys(id,status)',
    ]);
  });

  it('reports each failure with its file, line and raw value, and what the check asked', async () => {
    const result = await runSchemaChecks(
      engine,
      'typed',
      headers.get('typed')!,
      loadSchema(fixture('typed.schema.yaml')),
      {
        examples: 2,
      },
    );
    expect(byId(result, 'age:type')).toEqual({
      id: 'age:type',
      column: 'age',
      constraint: 'type',
      expected: 'integer',
      failed: 1,
      checked: 4,
      tolerance: 1,
      passed: false,
      examples: [{ file: TYPED, line: 5, value: '4.5' }],
    });
    expect(byId(result, 'name:required').examples).toEqual([{ file: TYPED, line: 6, value: null }]);
    expect(byId(result, 'joined:minimum')).toMatchObject({
      expected: '2020-01-01',
      examples: [{ value: '2019-12-31' }],
    });
    // Examples are capped, the count is not.
    expect(byId(result, 'uniqueKeys(status)')).toMatchObject({
      column: null,
      columns: ['status'],
      failed: 3,
      examples: [
        { line: 2, value: 'new' },
        { line: 4, value: 'new' },
      ],
    });
  });

  it('runs every check in one aggregate statement, plus one for the examples', async () => {
    const statements: string[] = [];
    const counting: Sql = {
      all: (sql) => {
        statements.push(sql);
        return engine.all(sql);
      },
    };
    await runSchemaChecks(counting, 'typed', headers.get('typed')!, loadSchema(fixture('typed.schema.yaml')));
    // The third is the probe that asks DuckDB whether the pattern compiles.
    expect(statements).toHaveLength(3);
  });

  it('reads values with DuckDB but not with its leniency: a value that does not parse fails its type check', async () => {
    const result = await check(
      'lenient',
      `fieldsMatch: subset
fields:
  - { name: v, type: integer }
  - { name: n, type: number }
  - { name: flag, type: boolean, trueValues: ['Y'], falseValues: ['N'] }
  - { name: d, type: date, format: '%d/%m/%Y' }
  - { name: dt, type: datetime }
  - { name: u, type: integer, constraints: { unique: true } }`,
    );
    expect(summary(result)).toMatchObject({
      'v:type': [2, 3, [2, 3]], // 1.0 and 0x10, which DuckDB would cast to BIGINT
      'n:type': [1, 3, [3]], // 1,5 without decimalChar; 1e3 and -.5 are numbers
      'flag:type': [1, 3, [2]],
      'd:type': [2, 3, [2, 4]],
      'dt:type': [2, 3, [2, 3]], // a date alone, and a time without seconds
      'u:unique': [2, 3, [2, 3]], // 01 and 1 are the same integer
    });
    expect(byId(result, 'd:type').expected).toBe('date (%d/%m/%Y)');
  });

  it('strips units from numbers that are not bare', async () => {
    const bare = await check('lenient', 'fieldsMatch: partial\nfields: [{ name: pct, type: number }]');
    expect(summary(bare)['pct:type']).toEqual([2, 3, [2, 3]]);
    const units = await check(
      'lenient',
      'fieldsMatch: partial\nfields: [{ name: pct, type: number, bareNumber: false, constraints: { maximum: 5 } }]',
    );
    expect(summary(units)).toMatchObject({ 'pct:type': [0, 3, []], 'pct:maximum': [1, 3, [4]] });
  });

  it('counts missing values as null for required and type, per schema and per field', async () => {
    const price = (yaml: string) => check('typed', `fieldsMatch: partial\n${yaml}`).then(summary);
    expect(
      await price('fields: [{ name: price, type: number, decimalChar: "," , groupChar: "." }]'),
    ).toMatchObject({
      'price:type': [1, 5, [5]],
    });
    expect(
      await price(
        'missingValues: ["n/a"]\nfields: [{ name: age, constraints: { required: true } }, { name: price, constraints: { required: true } }]',
      ),
    ).toMatchObject({
      // An empty cell is missing whatever missingValues lists.
      'age:required': [1, 5, [4]],
      'price:required': [1, 5, [5]],
    });
    expect(
      await price(
        'fields: [{ name: price, missingValues: ["n/a", "2,00"], constraints: { required: true } }]',
      ),
    ).toMatchObject({ 'price:required': [2, 5, [3, 5]] });
  });

  it('lets a share of rows fail under mostly: per field, and per constraint set over it', async () => {
    const age = (mostly: string) =>
      check('typed', `fieldsMatch: partial\nfields: [{ name: age, type: integer, ${mostly} }]`);
    // minimum: 1 of 3 typed values fails (2/3 pass); type: 1 of 4 present values fails (3/4 pass).
    const lenient = await age('mostly: 0.6, constraints: { minimum: 0 }');
    expect(byId(lenient, 'age:minimum')).toMatchObject({
      failed: 1,
      checked: 3,
      tolerance: 0.6,
      passed: true,
    });
    expect(byId(lenient, 'age:type')).toMatchObject({ failed: 1, tolerance: 0.6, passed: true });
    const strict = await age('mostly: 0.7, constraints: { minimum: 0, mostly: 0.9 }');
    expect(byId(strict, 'age:type')).toMatchObject({ tolerance: 0.7, passed: true });
    expect(byId(strict, 'age:minimum')).toMatchObject({ tolerance: 0.9, passed: false });
    const exact = await age('mostly: 0.75');
    expect(byId(exact, 'age:type').passed).toBe(true);
  });

  it('compares the header with the fields as fieldsMatch says, and checks an absent column without crashing', async () => {
    const all = headers.get('typed')!;
    const fields = (names: string[], ...more: string[]) =>
      `fields: [${[...names.map((n) => `{ name: ${n} }`), ...more].join(', ')}]`;
    const match = async (mode: string, names: string[]) => {
      const result = await check('typed', `fieldsMatch: ${mode}\n${fields(names)}`);
      return { ...result.fieldsMatch, failed: byId(result, 'fieldsMatch').failed };
    };
    const extra = all.slice(2);
    expect(await match('exact', ['id', 'name'])).toEqual({
      mode: 'exact',
      passed: false,
      missing: [],
      extra,
      outOfOrder: false,
      failed: 11,
    });
    expect(await match('subset', ['id', 'name'])).toMatchObject({ passed: true });
    expect(await match('superset', ['id', 'name'])).toMatchObject({ passed: false });
    expect(await match('equal', ['id', 'name'])).toMatchObject({ passed: false });
    expect(await match('partial', ['id', 'ghost'])).toMatchObject({ passed: true, missing: ['ghost'] });
    expect(await match('partial', ['ghost'])).toMatchObject({ passed: false, failed: 1 });
    const reversed = [...all].reverse();
    expect(await match('exact', reversed)).toMatchObject({ passed: false, outOfOrder: true, failed: 1 });
    expect(await match('equal', reversed)).toMatchObject({ passed: true, outOfOrder: true });
    expect(await match('superset', [...all, 'ghost'])).toMatchObject({ passed: true, missing: ['ghost'] });
    expect(await match('exact', [...all, 'ghost'])).toMatchObject({
      passed: false,
      missing: ['ghost'],
      failed: 1,
    });

    const ghost = await check(
      'typed',
      `fieldsMatch: superset\nprimaryKey: ghost\n${fields(all, '{ name: ghost, type: integer, constraints: { required: true, minimum: 0 } }')}`,
    );
    expect(summary(ghost)).toMatchObject({
      'ghost:type': [0, 0, []],
      'ghost:required': [5, 5, [2, 3, 4, 5, 6]],
      'ghost:minimum': [0, 0, []],
      primaryKey: [5, 5, [2, 3, 4, 5, 6]],
    });
  });

  it('treats a primary key with a missing part as failed, a unique key with one as exempt', async () => {
    const result = await check(
      'typed',
      'fieldsMatch: partial\nprimaryKey: [id, name]\nuniqueKeys: [[name, status]]\nfields: [{ name: id }, { name: name }, { name: status }]',
    );
    expect(summary(result)).toMatchObject({
      primaryKey: [1, 5, [6]],
      'uniqueKeys(name,status)': [0, 4, []],
    });
    expect(byId(result, 'primaryKey').examples[0].value).toBe('5, ');
  });

  it('names the schema file and path when DuckDB cannot compile a pattern or a date format', async () => {
    const source = 'contract.yaml';
    const run = (yaml: string) =>
      runSchemaChecks(engine, 'typed', headers.get('typed')!, parseSchema(yaml, source)).then(
        () => undefined,
        (e: unknown) => e,
      );
    const pattern = await run('fields: [{ name: a }, { name: code, constraints: { pattern: "(?=AB)" } }]');
    expect(pattern).toBeInstanceOf(ConfigurationError);
    expect((pattern as Error).message).toMatch(
      /^contract\.yaml: fields\[1\]\.constraints\.pattern: pattern of field "code"/,
    );
    const format = await run('fields: [{ name: joined, type: date, format: "%Q" }]');
    expect((format as Error).message).toMatch(
      /^contract\.yaml: fields\[0\]\.format: format of field "joined"/,
    );
  });
});

describe('quality helpers', () => {
  it('computes null fractions with the missing values, and duplicate rows as pandas counts them', async () => {
    expect(await nullFractions(engine, 'typed', ['age', 'price', 'status'], ['', 'n/a'])).toEqual({
      age: 0.2,
      price: 0.2,
      status: 0,
    });
    expect(await nullFractions(engine, 'typed', ['price'])).toEqual({ price: 0 });
    expect(await duplicateRows(engine, 'typed', ['id'])).toBe(1);
    expect(await duplicateRows(engine, 'typed', ['status'])).toBe(2);
    expect(await duplicateRows(engine, 'typed', headers.get('typed')!)).toBe(0);
  });

  it('counts whole-row duplicates exactly: empty cells are equal, rows that differ anywhere are not', async () => {
    await engine.all(
      `CREATE OR REPLACE TABLE dups AS SELECT * FROM (VALUES ('a', NULL, '1'), ('a', NULL, '1'), ('a', NULL, '1'),
       ('a', 'x', '1'), ('b', NULL, '1'), ('a', NULL, '2'), ('1', 'a', NULL)) t(p, q, r)`,
    );
    expect(await duplicateRows(engine, 'dups', ['p', 'q', 'r'])).toBe(2);
    expect(await duplicateRows(engine, 'dups', ['p'])).toBe(4);
  });

  it('gives NaN on an empty table and a clear error for an absent column', async () => {
    await engine.all('CREATE OR REPLACE TABLE empty AS SELECT * FROM typed WHERE false');
    expect((await nullFractions(engine, 'empty', ['age'])).age).toBeNaN();
    await expect(nullFractions(engine, 'typed', ['agee'])).rejects.toThrow(
      /the data has no column "agee"; its columns are id, name/,
    );
    await expect(duplicateRows(engine, 'typed', ['agee'])).rejects.toBeInstanceOf(ConfigurationError);
  });
});

describe('inferSchema', () => {
  it('infers the narrowest types, required, ranges and enums, in a stable order', async () => {
    const schema = await inferSchema(engine, 'inferred', headers.get('inferred')!, { enumMaxDistinct: 3 });
    expect(Object.keys(schema)).toEqual(['fields', 'missingValues', 'fieldsMatch']);
    expect(schema).toEqual({
      fields: [
        { name: 'id', type: 'integer', constraints: { required: true, minimum: 1, maximum: 5 } },
        { name: 'price', type: 'number', constraints: { required: true, minimum: -0.25, maximum: 100 } },
        { name: 'flag', type: 'boolean', constraints: { required: true } },
        {
          name: 'day',
          type: 'date',
          constraints: { required: true, minimum: '2023-12-31', maximum: '2024-02-29' },
        },
        {
          name: 'at',
          type: 'datetime',
          constraints: { required: true, minimum: '2024-01-01T00:00:00', maximum: '2024-01-03T00:00:00.5' },
        },
        { name: 'color', type: 'string', constraints: { required: true, enum: ['blue', 'green', 'red'] } },
        { name: 'note', type: 'string' },
        { name: 'empty_col', type: 'any' },
      ],
      missingValues: [''],
      fieldsMatch: 'exact',
    });
    const again = await inferSchema(engine, 'inferred', headers.get('inferred')!, { enumMaxDistinct: 3 });
    expect(formatSchema(again, 'yaml')).toBe(formatSchema(schema, 'yaml'));
  });

  it('infers a schema that the same data passes, through YAML and JSON', async () => {
    for (const table of ['inferred', 'typed', 'lenient']) {
      const header = headers.get(table)!;
      const inferred = await inferSchema(engine, table, header);
      for (const as of ['yaml', 'json'] as const) {
        const schema = parseSchema(formatSchema(inferred, as), `inferred.${as}`);
        const result = await runSchemaChecks(engine, table, header, schema);
        expect(result.checks.filter((c) => !c.passed)).toEqual([]);
        expect(result.checks.length).toBeGreaterThan(header.length);
      }
    }
  });
});

describe('writeFailingRows', () => {
  const schema = `fieldsMatch: subset
fields:
  - { name: id, type: integer, constraints: { unique: true } }
  - { name: age, type: integer, constraints: { minimum: 0 } }
  - { name: status, constraints: { enum: [new, old], mostly: 0.5 } }`;
  const header = () => headers.get('typed')!;
  const row = (line: number, failed: string, rest: string) => `${TYPED},${line},${failed},${rest}`;
  const LINE_3 = '2,Bob,-3,1.5,false,2020-13-01,2020-01-15 10:00:00+02:00,25:00:00,2001,XY-2,bob@,"2,00",old';
  const LINE_4 = '3,Cy,,.25,yes,2019-12-31,not a time,12:30:00,99,AB-3,cy@example.org,"3,5",new';
  const LINE_5 = '3,Di,4.5,abc,FALSE,2021-06-01,2021-06-01T00:00:00,08:00:00,2020,ab-4,,n/a,gone';

  it('writes the rows that failed, which checks they failed and their cells, by file and line', async () => {
    const result = await check('typed', schema);
    const failed = result.checks.filter((c) => !c.passed);
    expect(failed.map((c) => c.id)).toEqual(['id:unique', 'age:type', 'age:minimum']);
    const path = join(dir, 'out', 'failing.csv');
    expect(await writeFailingRows(engine, 'typed', header(), failed, path)).toEqual({ written: 3, total: 3 });
    expect((await readFile(path, 'utf8')).trimEnd().split('\n')).toEqual([
      `__file,__line,failed_checks,${header().join(',')}`,
      row(3, 'age:minimum', LINE_3),
      row(4, 'id:unique', LINE_4),
      row(5, 'id:unique; age:type', LINE_5),
    ]);
  });

  it('caps the rows, and includes the checks it is given, tolerated ones too', async () => {
    const result = await check('typed', schema);
    const path = join(dir, 'capped.csv');
    expect(await writeFailingRows(engine, 'typed', header(), result.checks, path, { cap: 2 })).toEqual({
      written: 2,
      total: 3,
    });
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines.slice(1)).toEqual([row(3, 'age:minimum', LINE_3), row(4, 'id:unique', LINE_4)]);
    await writeFailingRows(engine, 'typed', header(), result.checks, path, { cap: 5 });
    expect((await readFile(path, 'utf8')).trimEnd().split('\n')[3]).toBe(
      row(5, 'id:unique; age:type; status:enum', LINE_5),
    );
  });

  it('writes the header alone when no row failed', async () => {
    const path = join(dir, 'none.csv');
    expect(await writeFailingRows(engine, 'typed', header(), [], path)).toEqual({ written: 0, total: 0 });
    expect(await readFile(path, 'utf8')).toBe(`__file,__line,failed_checks,${header().join(',')}\n`);
  });
});
