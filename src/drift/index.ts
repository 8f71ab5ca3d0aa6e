/**
 * Drift between a dataset and a reference, column by column, out of core: the drift config, and the run
 * that ties the SQL summaries (summarize.ts), the per-column verdicts (column.ts) and the correction of
 * p-values across columns together. See docs/drift.md.
 */

import { parse as parseYaml } from 'yaml';
import type { SqlStreams } from '../data/engine.js';
import { ConfigurationError } from '../errors.js';
import {
  type ColumnDrift,
  type ColumnSetting,
  DRIFT_METHODS,
  type DriftMethod,
  decideColumn,
  type Measurement,
  measureColumn,
  NUMERIC_METHODS,
  notEvaluable,
  P_VALUE_METHODS,
  type VerdictRules,
} from './column.js';
import { adjustPValues, type Correction } from './stats.js';
import {
  type ColumnKind,
  summarizeCategorical,
  summarizeNumeric,
  type Tables,
  tableColumns,
  tableRows,
} from './summarize.js';

export type { ColumnDrift, ColumnSetting, DriftMethod, Verdict } from './column.js';
export { DEFAULT_THRESHOLDS, DRIFT_METHODS, P_VALUE_METHODS, SMALL_REFERENCE } from './column.js';
export type { Correction } from './stats.js';
export type { ColumnKind, Tables } from './summarize.js';

export interface DriftConfig extends VerdictRules {
  /** How p-values are adjusted across columns (and, separately, the null-rate tests across columns). */
  correction: Correction;
  /** Dataset drift (Evidently's flag): at least this share of evaluated columns drifted. */
  driftShare: number;
  /** Cell values that mean "missing" besides NULL (an empty cell). */
  missingValues: string[];
  columns: Record<string, ColumnSetting>;
}

export const DEFAULT_DRIFT_CONFIG: Readonly<DriftConfig> = Object.freeze({
  correction: 'bh',
  alpha: 0.05,
  effectSizeFloor: 0.1,
  nullRateTolerance: 0.05,
  unseenTolerance: 0.01,
  driftShare: 0.5,
  missingValues: [''],
  columns: {},
});

const CORRECTIONS: readonly Correction[] = ['bh', 'bonferroni', 'none'];
const COLUMN_KEYS = ['method', 'threshold'];

/**
 * Reads the drift config: YAML or JSON text (YAML is a superset), an already parsed object, or nothing for
 * the defaults. Every key is checked; a mistake is a ConfigurationError that names the key.
 */
export function parseDriftConfig(source: unknown, where = 'drift-config'): DriftConfig {
  let raw = source;
  if (typeof source === 'string') {
    try {
      raw = source.trim() === '' ? undefined : parseYaml(source);
    } catch (e) {
      throw new ConfigurationError(
        `does not parse as YAML or JSON: ${(e as Error).message.split('\n')[0]}`,
        where,
      );
    }
  }
  if (raw === undefined || raw === null) return { ...DEFAULT_DRIFT_CONFIG, missingValues: [''], columns: {} };
  const config = mapping(raw, where, 'the drift config');
  const known = Object.keys(DEFAULT_DRIFT_CONFIG);
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) {
      throw new ConfigurationError(`unknown key "${key}"; the keys are ${known.join(', ')}`, where);
    }
  }
  const at = (key: string) => `${where}: ${key}`;
  const correction = config.correction ?? DEFAULT_DRIFT_CONFIG.correction;
  if (!CORRECTIONS.includes(correction as Correction)) {
    throw new ConfigurationError(
      `unknown correction ${JSON.stringify(correction)}; use one of ${CORRECTIONS.join(', ')}`,
      at('correction'),
    );
  }
  const missingValues = config.missingValues ?? DEFAULT_DRIFT_CONFIG.missingValues;
  if (!Array.isArray(missingValues) || missingValues.some((v) => typeof v !== 'string')) {
    throw new ConfigurationError(
      'must be a list of strings (cell values that mean "missing")',
      at('missingValues'),
    );
  }
  return {
    correction: correction as Correction,
    alpha: fraction(config, 'alpha', where, { open: true }),
    effectSizeFloor: fraction(config, 'effectSizeFloor', where, { max: Number.POSITIVE_INFINITY }),
    nullRateTolerance: fraction(config, 'nullRateTolerance', where),
    unseenTolerance: fraction(config, 'unseenTolerance', where),
    driftShare: fraction(config, 'driftShare', where),
    missingValues: [...missingValues],
    columns: columnSettings(config.columns, where),
  };
}

function mapping(value: unknown, where: string, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(`${what} must be a mapping of keys to values`, where);
  }
  return value as Record<string, unknown>;
}

function fraction(
  config: Record<string, unknown>,
  key: keyof VerdictRules | 'driftShare',
  where: string,
  { open = false, max = 1 } = {},
): number {
  const value = config[key] ?? DEFAULT_DRIFT_CONFIG[key];
  const ok = typeof value === 'number' && (open ? value > 0 && value < max : value >= 0 && value <= max);
  if (!ok) {
    const range = max === 1 ? (open ? 'between 0 and 1 (exclusive)' : 'between 0 and 1') : 'a number >= 0';
    throw new ConfigurationError(`must be ${range}, not ${JSON.stringify(value)}`, `${where}: ${key}`);
  }
  return value;
}

function columnSettings(value: unknown, where: string): Record<string, ColumnSetting> {
  if (value === undefined || value === null) return {};
  const columns = mapping(value, `${where}: columns`, 'columns');
  const settings: Record<string, ColumnSetting> = {};
  for (const [name, raw] of Object.entries(columns)) {
    const at = `${where}: columns.${name}`;
    const entry = mapping(raw, at, `the settings of column "${name}"`);
    for (const key of Object.keys(entry)) {
      if (!COLUMN_KEYS.includes(key)) {
        throw new ConfigurationError(`unknown key "${key}"; a column takes ${COLUMN_KEYS.join(' and ')}`, at);
      }
    }
    const { method, threshold } = entry;
    if (method !== undefined && !DRIFT_METHODS.includes(method as DriftMethod)) {
      throw new ConfigurationError(
        `unknown method ${JSON.stringify(method)}; use one of ${DRIFT_METHODS.join(', ')}`,
        `${at}.method`,
      );
    }
    const pValue = method !== undefined && P_VALUE_METHODS.has(method as DriftMethod);
    if (
      threshold !== undefined &&
      !(typeof threshold === 'number' && threshold > 0 && (!pValue || threshold < 1))
    ) {
      throw new ConfigurationError(
        `must be a number above 0${pValue ? ' and below 1 (a p-value)' : ''}, not ${JSON.stringify(threshold)}`,
        `${at}.threshold`,
      );
    }
    settings[name] = {
      ...(method !== undefined ? { method: method as DriftMethod } : {}),
      ...(threshold !== undefined ? { threshold: threshold as number } : {}),
    };
  }
  return settings;
}

/**
 * Drift of each column of table `tables.data` against `tables.reference` (both loaded as text by
 * Engine.loadText). Every column gets a result, in the order given: drift or no_drift with its method,
 * score, p-values and effect size; or why it could not be evaluated (empty reference or data, absent from
 * a table).
 */
export async function driftColumns(
  sql: SqlStreams,
  tables: Tables,
  columns: readonly { name: string; kind: ColumnKind }[],
  config: DriftConfig = DEFAULT_DRIFT_CONFIG,
): Promise<ColumnDrift[]> {
  checkSettings(columns, config);
  const existing = {
    data: await tableColumns(sql, tables.data),
    reference: await tableColumns(sql, tables.reference),
  };
  const rows = {
    data: existing.data.size > 0 ? await tableRows(sql, tables.data) : 0,
    reference: existing.reference.size > 0 ? await tableRows(sql, tables.reference) : 0,
  };
  const measured: (Measurement | ColumnDrift)[] = [];
  for (const { name, kind } of columns) {
    const absent = (['data', 'reference'] as const).filter((side) => !existing[side].has(name));
    if (absent.length > 0) {
      const reason = `column is absent from the ${absent.join(' and the ')}`;
      measured.push(notEvaluable(name, kind, 'missing_column', reason, rows, config));
    } else if (rows.reference === 0) {
      measured.push(notEvaluable(name, kind, 'no_reference', 'the reference has no rows', rows, config));
    } else if (rows.data === 0) {
      measured.push(notEvaluable(name, kind, 'no_data', 'the data has no rows', rows, config));
    } else {
      const summary =
        kind === 'numeric'
          ? await summarizeNumeric(sql, tables, name, config.missingValues)
          : await summarizeCategorical(sql, tables, name, config.missingValues);
      measured.push(measureColumn(name, rows, summary, config.columns[name], config));
    }
  }

  const isMeasurement = (m: Measurement | ColumnDrift): m is Measurement => !('verdict' in m);
  const tested = measured.filter(isMeasurement);
  const valueFamily = tested.filter((m) => m.pValue !== null);
  const valueAdjusted = adjustPValues(
    valueFamily.map((m) => m.pValue!),
    config.correction,
  );
  const nullAdjusted = adjustPValues(
    tested.map((m) => m.nullRate.pValue),
    config.correction,
  );
  return measured.map((m) => {
    if (!isMeasurement(m)) return m;
    const i = valueFamily.indexOf(m);
    return decideColumn(
      m,
      { pValue: i >= 0 ? valueAdjusted[i] : null, nullRate: nullAdjusted[tested.indexOf(m)] },
      config,
    );
  });
}

function checkSettings(columns: readonly { name: string; kind: ColumnKind }[], config: DriftConfig): void {
  const kinds = new Map(columns.map((c) => [c.name, c.kind]));
  for (const [name, setting] of Object.entries(config.columns)) {
    const kind = kinds.get(name);
    if (!kind) {
      throw new ConfigurationError(
        `is not one of the columns tested for drift (${columns.map((c) => c.name).join(', ')})`,
        `drift-config: columns.${name}`,
      );
    }
    if (setting.method && NUMERIC_METHODS.has(setting.method) && kind !== 'numeric') {
      throw new ConfigurationError(
        `method ${setting.method} needs numbers, but column "${name}" is categorical; use chisquare, z, jensenshannon or psi`,
        `drift-config: columns.${name}.method`,
      );
    }
  }
}

export interface DatasetDrift {
  /** Drifted columns over evaluated columns; null when no column could be evaluated. */
  drift_share: number | null;
  /** Names of the drifted columns. */
  drifted: string[];
  /** Columns considered. */
  columns: number;
  /** Columns with a verdict (drift or no_drift). */
  evaluated: number;
  /** Columns that could not be evaluated, with the verdict saying why. */
  not_evaluable: { column: string; verdict: string }[];
  /** Evidently's dataset drift: drift_share >= config.driftShare. */
  dataset_drift: boolean;
}

export function datasetDrift(
  results: readonly ColumnDrift[],
  config: Pick<DriftConfig, 'driftShare'> = DEFAULT_DRIFT_CONFIG,
): DatasetDrift {
  const evaluated = results.filter((r) => r.verdict === 'drift' || r.verdict === 'no_drift');
  const drifted = evaluated.filter((r) => r.drifted).map((r) => r.column);
  const share = evaluated.length > 0 ? drifted.length / evaluated.length : null;
  return {
    drift_share: share,
    drifted,
    columns: results.length,
    evaluated: evaluated.length,
    not_evaluable: results
      .filter((r) => !evaluated.includes(r))
      .map((r) => ({ column: r.column, verdict: r.verdict })),
    dataset_drift: share !== null && share >= config.driftShare,
  };
}
