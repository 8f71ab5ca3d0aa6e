import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateGates, parseGates } from '../src/gates/index.js';
import { buildReport, writeReport } from '../src/report/json.js';
import { REPORT_SCHEMA_VERSION } from '../src/report/types.js';
import { type Schema, validate } from './support/json-schema.js';

const docs = join(import.meta.dirname, '..', 'docs');
const schema: Schema = JSON.parse(await readFile(join(docs, 'report.schema.json'), 'utf8'));
const documentation = await readFile(join(docs, 'report-schema.md'), 'utf8');

/**
 * A report as a command would write it: overall, baseline and slice gates, one metric that is NaN, and a
 * baseline gate on an estimate with an interval (benchmark).
 */
async function writtenSampleReport(): Promise<unknown> {
  const gates = evaluateGates(
    parseGates(
      'accuracy >= 0.9\nf1_macro >= baseline - 0.01\nlog_loss <= 0.5\nslice.accuracy >= 0.85\np95_ms <= baseline * 1.1',
    ),
    {
      metrics: { accuracy: 0.93, f1_macro: 0.87, log_loss: Number.NaN, 'recall.high risk': 0.9, p95_ms: 12 },
      baseline: { f1_macro: 0.88, p95_ms: 10 },
      intervals: { p95_ms: [10.5, 13] },
      slices: [
        { scope: 'slice:region=eu', metrics: { accuracy: 0.81 }, eligible: true },
        { scope: 'slice:region=apac', metrics: { accuracy: 0.5 }, eligible: false, reason: '12 rows < 30' },
      ],
    },
  );
  const report = buildReport({
    command: 'validate-model',
    gates,
    metrics: { accuracy: 0.93, f1_macro: 0.87, log_loss: Number.NaN, 'recall.high risk': 0.9 },
    warnings: ['slice region=apac has 12 rows (< 30): not gated'],
    details: { model: { path: 'model.onnx' } },
  });
  const dir = await mkdtemp(join(tmpdir(), 'mlgate-schema-'));
  try {
    await writeReport(report, join(dir, 'report.json'));
    return JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('docs/report.schema.json', () => {
  it('accepts a report written by writeReport', async () => {
    const report = await writtenSampleReport();
    expect(validate(report, schema)).toEqual([]);
  });

  it('declares every field the report has, and the current schema version', async () => {
    const report = (await writtenSampleReport()) as { gates: Record<string, unknown>[] };
    const optional = (s: Schema) => Object.keys(s.properties).filter((key) => !s.required.includes(key));
    expect(Object.keys(report).sort()).toEqual([...schema.required].sort());
    expect(optional(schema)).toEqual(['error']);
    const gateFields = new Set(report.gates.flatMap((gate) => Object.keys(gate)));
    expect([...gateFields].sort()).toEqual(Object.keys(schema.$defs.gateResult.properties).sort());
    expect(schema.properties.schemaVersion.const).toBe(REPORT_SCHEMA_VERSION);
  });

  it('accepts the report of a command that could not run', () => {
    const report = { ...buildReport({ command: 'validate-model', gates: [] }), passed: false };
    expect(validate({ ...report, error: { message: 'model: file not found' } }, schema)).toEqual([]);
    expect(validate({ ...report, error: 'model: file not found' }, schema)).toEqual([
      '/error: expected object, got string',
    ]);
  });

  it('accepts the example in docs/report-schema.md', () => {
    const example = /```json\n([\s\S]*?)\n```/.exec(documentation);
    expect(example).not.toBeNull();
    expect(validate(JSON.parse(example![1]), schema)).toEqual([]);
  });

  it('documents every field in docs/report-schema.md', () => {
    const fields = [...Object.keys(schema.properties), ...Object.keys(schema.$defs.gateResult.properties)];
    for (const field of fields) expect(documentation).toMatch(new RegExp(`\\| \`${field}\` +\\|`));
  });

  it('rejects reports that break it (the checker is not a no-op)', async () => {
    const report = (await writtenSampleReport()) as Record<string, any>;
    const broken = structuredClone(report);
    broken.schemaVersion = 2;
    broken.metrics.accuracy = 'high';
    broken.gates[0].operator = '=>';
    broken.gates[1].scope = 'everywhere';
    delete broken.gates[2].passed;
    broken.createdAt = 'yesterday';
    expect(validate(broken, schema)).toEqual([
      '/schemaVersion: expected 1',
      '/createdAt: "yesterday" is not an RFC 3339 date-time',
      '/gates/0/operator: "=>" is not one of [">=","<=",">","<","==","!="]',
      '/gates/1/scope: "everywhere" does not match ^(overall|slice:.+|level:.+)$',
      '/gates/2: missing required property "passed"',
      '/metrics/accuracy: expected number or null, got string',
    ]);
  });
});
