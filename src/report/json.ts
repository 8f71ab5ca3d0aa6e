import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import packageJson from '../../package.json' with { type: 'json' };
import { summarizeGates } from '../gates/evaluate.js';
import { type GateResult, REPORT_SCHEMA_VERSION, type Report } from './types.js';

/** What a command knows; the envelope (schema version, mlgate version, time, verdict) is filled in here. */
export interface ReportInput {
  command: string;
  gates: GateResult[];
  metrics?: Record<string, number | null>;
  warnings?: string[];
  details?: Record<string, unknown>;
  /** Fixed in tests; now otherwise. */
  createdAt?: Date;
}

export const MLGATE_VERSION: string = packageJson.version;

export function buildReport(input: ReportInput): Report {
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    command: input.command,
    version: MLGATE_VERSION,
    createdAt: (input.createdAt ?? new Date()).toISOString(),
    passed: summarizeGates(input.gates).passed,
    gates: input.gates,
    metrics: input.metrics ?? {},
    warnings: input.warnings ?? [],
    details: input.details ?? {},
  };
}

/**
 * Pretty JSON with a trailing newline. NaN and ±Infinity become null (JSON cannot hold them; JSON.stringify
 * already does this, and the schema documents null as "could not be computed"). An array of numbers stays
 * on one line: a confusion matrix reads as a matrix, and a long list of statistics (validate-model's
 * details.sufficient) costs its digits, not an indented line per number.
 */
export function serializeReport(report: Report): string {
  const text = JSON.stringify(report, numbersInline, 2);
  return `${text.replace(INLINE_MARK, '$1')}\n`;
}

// A prefix no report text holds: JSON.stringify writes the control character as \u0000.
const INLINE = '\u0000mlgate-inline:';
const INLINE_MARK = /"\\u0000mlgate-inline:(\[[^"]*\])"/g;

/** Turns an array of numbers into a marked string, which JSON.stringify keeps on one line, for serializeReport to unquote. */
function numbersInline(_key: string, value: unknown): unknown {
  if (!Array.isArray(value) || value.length === 0) return value;
  if (!value.every((v) => typeof v === 'number' || v === null)) return value;
  return `${INLINE}${JSON.stringify(value)}`;
}

/**
 * Writes the report, creating parent directories. Written to a temporary file and renamed, so a later step
 * never reads half a report.
 */
export async function writeReport(report: Report, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.tmp`;
  await writeFile(partial, serializeReport(report), 'utf8');
  await rename(partial, path);
}

/** A file written beside the JSON report: `report.json` -> `report.md`, `report.failing-rows.csv`. */
export function besideReport(reportPath: string, suffix: string): string {
  return reportPath.replace(/(\.json)?$/, suffix);
}
