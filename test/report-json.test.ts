import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import packageJson from '../package.json' with { type: 'json' };
import { evaluateGates, parseGates } from '../src/gates/index.js';
import { buildReport, serializeReport, writeReport } from '../src/report/json.js';
import { REPORT_SCHEMA_VERSION } from '../src/report/types.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mlgate-report-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const gates = (metrics: Record<string, number | null>) =>
  evaluateGates(parseGates('accuracy >= 0.9\nlog_loss <= 0.5'), { metrics });

describe('buildReport', () => {
  it('fills the envelope and computes the verdict from the gates', () => {
    const createdAt = new Date('2024-05-01T12:00:00Z');
    const passing = buildReport({
      command: 'validate-model',
      gates: gates({ accuracy: 0.95, log_loss: 0.2 }),
      createdAt,
    });
    expect(passing).toMatchObject({
      schemaVersion: REPORT_SCHEMA_VERSION,
      command: 'validate-model',
      version: packageJson.version,
      createdAt: '2024-05-01T12:00:00.000Z',
      passed: true,
      metrics: {},
      warnings: [],
      details: {},
    });
    const failing = buildReport({
      command: 'validate-model',
      gates: gates({ accuracy: 0.95, log_loss: null }),
    });
    expect(failing.passed).toBe(false);
    expect(Date.parse(failing.createdAt)).not.toBeNaN();
  });

  it('passes when no gates were configured', () => {
    expect(buildReport({ command: 'scan-model', gates: [] }).passed).toBe(true);
  });
});

describe('writeReport', () => {
  it('creates parent directories and writes pretty JSON that reads back', async () => {
    const report = buildReport({
      command: 'validate-model',
      gates: gates({ accuracy: 0.95, log_loss: 0.2 }),
    });
    const path = join(dir, 'nested', 'deeper', 'report.json');
    await writeReport(report, path);
    const text = await readFile(path, 'utf8');
    expect(text).toMatch(/^\{\n {2}"schemaVersion": 1,\n/);
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text)).toEqual(report);
    expect(await readdir(join(dir, 'nested', 'deeper'))).toEqual(['report.json']);
  });

  it('writes NaN and infinities as null', async () => {
    const report = buildReport({
      command: 'benchmark',
      gates: [],
      metrics: {
        p95_ms: Number.NaN,
        max_ms: Number.POSITIVE_INFINITY,
        min_ms: Number.NEGATIVE_INFINITY,
        ok: 1,
      },
      details: { nested: [Number.NaN, { x: Number.POSITIVE_INFINITY }] },
    });
    const path = join(dir, 'report.json');
    await writeReport(report, path);
    const parsed = JSON.parse(await readFile(path, 'utf8'));
    expect(parsed.metrics).toEqual({ p95_ms: null, max_ms: null, min_ms: null, ok: 1 });
    expect(parsed.details).toEqual({ nested: [null, { x: null }] });
    expect(serializeReport(report)).not.toMatch(/NaN|Infinity/);
  });
});
