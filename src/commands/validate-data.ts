import { writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Engine, ident } from '../data/engine.js';
import { type DataFile, expandDataInput } from '../data/files.js';
import { type ColumnDrift, datasetDrift, driftColumns, parseDriftConfig } from '../drift/index.js';
import { ConfigurationError } from '../errors.js';
import { evaluateGates, type Gate, loadGates } from '../gates/index.js';
import type { Logger } from '../logging.js';
import { besideReport, buildReport } from '../report/json.js';
import type { Command, CommandResult } from '../runtime/command.js';
import { inlineOrFile, input, type RawInputs } from '../runtime/inputs.js';
import {
  type CheckResult,
  duplicateRows,
  formatSchema,
  inferSchema,
  loadSchema,
  nullFractions,
  runSchemaChecks,
  type TableSchema,
  writeFailingRows,
} from '../schema/index.js';
import { renderValidateData } from './validate-data-summary.js';

export interface ValidateDataInputs {
  data: string[];
  reference: string[];
  schema?: string;
  inferSchema?: string;
  driftColumns?: string[];
  driftConfig?: string;
  gates: string;
  gatesFile?: string;
  examples: number;
  failingRowsLimit: number;
  reportPath: string;
}

export function readValidateDataInputs(raw: RawInputs): ValidateDataInputs {
  const driftColumns = input.list(raw, 'drift-columns');
  return {
    data: input.list(raw, 'data'),
    reference: input.list(raw, 'reference'),
    schema: input.optional(raw, 'schema'),
    inferSchema: input.optional(raw, 'infer-schema'),
    driftColumns: driftColumns.length > 0 ? driftColumns : undefined,
    driftConfig: input.optional(raw, 'drift-config'),
    gates: input.lines(raw, 'gates'),
    gatesFile: input.optional(raw, 'gates-file'),
    examples: input.int(raw, 'examples', 0),
    failingRowsLimit: input.int(raw, 'failing-rows-limit', 0),
    reportPath: input.string(raw, 'report-path'),
  };
}

/** Gates when none are configured: the contract holds, and most columns have not drifted. */
function defaultGates(inputs: ValidateDataInputs): string {
  return [inputs.schema ? 'schema_errors == 0' : '', inputs.reference.length > 0 ? 'drift_share <= 0.3' : '']
    .filter(Boolean)
    .join('\n');
}

/** Drift config: inline YAML/JSON, or the path of a file holding it. */
function readDriftConfig(text: string | undefined) {
  if (!text) return parseDriftConfig(undefined, 'drift-config');
  const config = inlineOrFile(text, 'drift-config');
  return parseDriftConfig(config.text, config.where);
}

export const validateData: Command<ValidateDataInputs> = {
  name: 'validate-data',
  title: 'Data validation',
  readInputs: readValidateDataInputs,
  async run(inputs, logger) {
    // Everything the user wrote is parsed before any data is read: a typo should cost seconds.
    const gates = loadGates(
      inputs.gates.trim() || inputs.gatesFile ? inputs.gates : defaultGates(inputs),
      inputs.gatesFile,
    );
    const schema = inputs.schema ? loadSchema(inputs.schema) : undefined;
    const driftConfig = readDriftConfig(inputs.driftConfig);
    const engine = await Engine.open(logger, { tables: true });
    try {
      return await evaluate(inputs, { gates, schema, driftConfig }, engine, logger);
    } finally {
      engine.close();
    }
  },
};

interface Parsed {
  gates: Gate[];
  schema?: TableSchema;
  driftConfig: ReturnType<typeof parseDriftConfig>;
}

interface Loaded {
  files: DataFile[];
  header: string[];
  rows: number;
}

/** Loads each named input into its table, all at once; the first input's error wins. */
async function load(engine: Engine, inputs: Record<string, string[]>, logger: Logger): Promise<Loaded[]> {
  const sides: { name: string; files: DataFile[]; header: string[] }[] = [];
  for (const [name, spec] of Object.entries(inputs)) {
    const files = expandDataInput(spec, name);
    sides.push({ name, files, header: await engine.sharedColumns(files) });
  }
  const what = sides.map((s) => `${s.name} (${s.files.length} file${s.files.length === 1 ? '' : 's'})`);
  const settled = await logger.group(`Loading ${what.join(' and ')}`, () =>
    Promise.allSettled(sides.map((s) => engine.loadText(s.name, s.files, s.header))),
  );
  return sides.map((side, i) => {
    const result = settled[i];
    if (result.status === 'rejected') throw result.reason;
    if (result.value === 0)
      throw new ConfigurationError('the file has a header but no data rows', side.files[0].path);
    logger.info(`${side.name}: ${result.value.toLocaleString('en-US')} rows, ${side.header.length} columns`);
    return { files: side.files, header: side.header, rows: result.value };
  });
}

async function evaluate(
  inputs: ValidateDataInputs,
  parsed: Parsed,
  engine: Engine,
  logger: Logger,
): Promise<CommandResult> {
  const started = performance.now();
  const phases: Record<string, number> = {};
  let mark = started;
  const phase = (name: string) => {
    const now = performance.now();
    phases[`${name}Seconds`] = (now - mark) / 1000;
    mark = now;
  };
  const warnings: string[] = [];
  const [data, reference] = await load(
    engine,
    inputs.reference.length > 0 ? { data: inputs.data, reference: inputs.reference } : { data: inputs.data },
    logger,
  );
  const missingValues = parsed.schema?.missingValues ?? [''];
  phase('load');

  // Schema and quality.
  const schemaResult = parsed.schema
    ? await logger.group('Checking the schema', () =>
        runSchemaChecks(engine, 'data', data.header, parsed.schema!, { examples: inputs.examples }),
      )
    : undefined;
  const checks: CheckResult[] = schemaResult?.checks ?? [];
  const failedChecks = checks.filter((c) => !c.passed);
  const reportPath = resolve(inputs.reportPath || 'mlgate-report/validate-data.json');
  let failingRows: { path: string; written: number; total: number } | undefined;
  if (failedChecks.length > 0) {
    const path = besideReport(reportPath, '.failing-rows.csv');
    await mkdir(dirname(path), { recursive: true });
    const written = await writeFailingRows(engine, 'data', data.header, failedChecks, path, {
      cap: inputs.failingRowsLimit,
    });
    failingRows = { path, ...written };
  }
  phase('schema');
  const nulls = await nullFractions(engine, 'data', data.header, missingValues);
  const duplicates = await duplicateRows(engine, 'data', data.header);
  phase('quality');

  // Inferred when asked for, or when drift needs numeric and categorical columns told apart without a schema.
  const needInferred = inputs.inferSchema !== undefined || (reference !== undefined && !parsed.schema);
  const inferred = needInferred ? await inferSchema(engine, 'data', data.header) : undefined;
  let inferredSchemaPath: string | undefined;
  if (inputs.inferSchema && inferred) {
    inferredSchemaPath = resolve(inputs.inferSchema);
    await mkdir(dirname(inferredSchemaPath), { recursive: true });
    writeFileSync(
      inferredSchemaPath,
      formatSchema(inferred, /\.json$/i.test(inferredSchemaPath) ? 'json' : 'yaml'),
    );
    logger.info(
      `Wrote the inferred schema to ${inferredSchemaPath}: review it and commit it as the contract`,
    );
  }

  // Drift.
  let drift:
    | {
        columns: ColumnDrift[];
        summary: ReturnType<typeof datasetDrift>;
        missing: { data: string[]; reference: string[] };
        identifiers: string[];
      }
    | undefined;
  if (reference) {
    const kinds = columnKinds(parsed.schema ?? inferred!);
    const shared = data.header.filter((c) => reference.header.includes(c));
    const missing = {
      data: reference.header.filter((c) => !data.header.includes(c)),
      reference: data.header.filter((c) => !reference.header.includes(c)),
    };
    if (missing.data.length + missing.reference.length > 0) {
      warnings.push(
        `data and reference have different columns: ${[...missing.data.map((c) => `${c} (only in reference)`), ...missing.reference.map((c) => `${c} (only in data)`)].join(', ')}`,
      );
    }
    // Identifiers differ in every row by design: testing them for drift would always alarm.
    const identifiers = inputs.driftColumns
      ? []
      : await identifierColumns(engine, shared, parsed.schema, kinds);
    const selected = inputs.driftColumns ?? shared.filter((c) => !identifiers.includes(c));
    if (identifiers.length > 0)
      warnings.push(
        `not tested for drift, as identifiers (a key in the schema, or a distinct value in almost every row): ${identifiers.join(', ')}; name them in drift-columns to test them`,
      );
    for (const c of selected) {
      if (!data.header.includes(c) && !reference.header.includes(c)) {
        throw new ConfigurationError(
          `column "${c}" is in neither data nor reference (columns: ${data.header.join(', ')})`,
          'input "drift-columns"',
        );
      }
    }
    const columns = selected.map((name) => ({ name, kind: kinds.get(name) ?? 'categorical' }));
    const results = await logger.group(`Testing ${columns.length} columns for drift`, () =>
      driftColumns(engine, { data: 'data', reference: 'reference' }, columns, parsed.driftConfig),
    );
    drift = { columns: results, summary: datasetDrift(results, parsed.driftConfig), missing, identifiers };
  }

  phase('drift');

  // Metrics and gates.
  const metrics: Record<string, number | null> = {
    rows: data.rows,
    schema_errors: parsed.schema ? failedChecks.length : null,
    failed_rows: parsed.schema ? (failingRows?.total ?? 0) : null,
    duplicate_rows: duplicates,
  };
  for (const c of data.header) metrics[`null_fraction(${c})`] = nulls[c] ?? null;
  if (drift) {
    metrics.drift_share = drift.summary.drift_share;
    metrics.drifted_columns = drift.summary.drifted.length;
    for (const c of drift.columns) metrics[`drift_score(${c.column})`] = c.score ?? null;
  }
  const known = [...Object.keys(metrics), ...(reference ? [] : ['drift_share', 'drifted_columns'])];
  const results = evaluateGates(parsed.gates, { metrics, known });
  const seconds = (performance.now() - started) / 1000;

  const report = buildReport({
    command: 'validate-data',
    gates: results,
    metrics,
    warnings,
    details: {
      data: { files: data.files.map((f) => f.path), rows: data.rows, columns: data.header },
      ...(reference
        ? {
            reference: {
              files: reference.files.map((f) => f.path),
              rows: reference.rows,
              columns: reference.header,
            },
          }
        : {}),
      ...(parsed.schema
        ? { schema: { path: inputs.schema, fieldsMatch: schemaResult!.fieldsMatch, checks } }
        : {}),
      ...(failingRows ? { failingRows } : {}),
      ...(inferredSchemaPath ? { inferredSchemaPath } : {}),
      quality: { nullFractions: nulls, duplicateRows: duplicates },
      ...(drift
        ? {
            drift: {
              ...drift.summary,
              columns: drift.columns,
              missingColumns: drift.missing,
              identifiers: drift.identifiers,
              config: parsed.driftConfig,
            },
          }
        : {}),
      performance: { seconds, ...phases, peakRssMb: process.resourceUsage().maxRSS / 1024 },
    },
  });
  logger.info(`Checked ${data.rows.toLocaleString('en-US')} rows in ${seconds.toFixed(2)} s`);
  return {
    report,
    markdown: renderValidateData(report),
    terminal: [
      ...failedChecks.map(
        (c) =>
          `  check failed: ${c.id}: ${c.failed.toLocaleString('en-US')} rows, e.g. ${c.examples.map((e) => `line ${e.line}`).join(', ')}`,
      ),
      ...(failingRows ? [`  failing rows: ${failingRows.path}`] : []),
      ...(drift
        ? [
            `  drifted: ${drift.summary.drifted.join(', ') || 'none'} (of ${drift.summary.evaluated} columns tested)`,
          ]
        : []),
    ],
    outputs: {
      metrics: JSON.stringify(metrics),
      rows: String(data.rows),
      'schema-errors': metrics.schema_errors === null ? '' : String(metrics.schema_errors),
      'failing-rows-path': failingRows?.path ?? '',
      'drift-share': drift ? String(drift.summary.drift_share) : '',
      'drifted-columns': drift ? drift.summary.drifted.join(',') : '',
      'inferred-schema-path': inferredSchemaPath ?? '',
    },
  };
}

/** Share of distinct values above which a text column is taken for an identifier. */
const IDENTIFIER_DISTINCT_SHARE = 0.95;

/** Key columns of the schema, and text columns whose values are (almost) all different. */
async function identifierColumns(
  engine: Engine,
  columns: string[],
  schema: TableSchema | undefined,
  kinds: Map<string, 'numeric' | 'categorical'>,
): Promise<string[]> {
  if (schema) {
    const keys = new Set([...(schema.primaryKey ?? []), ...(schema.uniqueKeys ?? []).flat()]);
    for (const f of schema.fields) if (f.constraints?.unique) keys.add(f.name);
    return columns.filter((c) => keys.has(c));
  }
  const text = columns.filter((c) => kinds.get(c) === 'categorical');
  if (text.length === 0) return [];
  const select = text.map(
    (c, i) => `approx_count_distinct(${ident(c)}) / greatest(count(${ident(c)}), 1) AS d${i}`,
  );
  const [row] = await engine.all(`SELECT count(*) AS n, ${select.join(', ')} FROM data`);
  return text.filter((_, i) => Number(row.n) > 100 && Number(row[`d${i}`]) >= IDENTIFIER_DISTINCT_SHARE);
}

/** Numbers and integers are tested as numeric distributions; everything else by category. */
function columnKinds(schema: TableSchema): Map<string, 'numeric' | 'categorical'> {
  return new Map(
    schema.fields.map((f) => [
      f.name,
      f.type === 'number' || f.type === 'integer' ? 'numeric' : 'categorical',
    ]),
  );
}
