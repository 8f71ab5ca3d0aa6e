/**
 * The metrics config of canary-gate: which queries to run for the canary and the baseline, and how each
 * metric is judged. YAML or JSON, checked key by key so that a typo is an error naming its path.
 *
 *   variants: { canary: canary, baseline: stable }      # what {{variant}} becomes on each side
 *   groups: { errors: 60, latency: 40 }                 # weights of the groups in the score
 *   metrics:
 *     - name: error-rate
 *       query: sum(rate(errors{variant="{{variant}}"}[1m])) / sum(rate(requests{variant="{{variant}}"}[1m]))
 *       threshold: canary <= baseline * 1.2             # kind threshold: instant queries
 *       critical: true
 *     - name: p95-latency
 *       queries: { canary: "...", baseline: "..." }     # or two queries
 *       kind: statistical                               # range queries, Mann-Whitney
 *       direction: increase
 *       allowed-increase: 1.1
 */
import { parse as parseYaml } from 'yaml';
import { ConfigurationError } from '../errors.js';
import type { Direction } from './judge.js';

export type NoDataPolicy = 'fail' | 'inconclusive' | 'pass';

/** `canary <= 0.01`, `canary <= baseline * 1.2`, `canary - baseline <= 0.005`, `canary / baseline <= 1.5`. */
export interface Threshold {
  text: string;
  left: 'canary' | 'canary - baseline' | 'canary / baseline';
  operator: '<=' | '<' | '>=' | '>';
  /** A number, or the baseline's value adjusted. */
  right: { value: number } | { baseline: true; op?: '*' | '+' | '-'; value?: number };
}

interface MetricBase {
  name: string;
  queries: { canary: string; baseline: string };
  group: string;
  critical: boolean;
  /** Evaluated and reported, never part of the decision. */
  dryRun: boolean;
  minSamples: number;
  noData: NoDataPolicy;
}

export type MetricConfig =
  | (MetricBase & { kind: 'threshold'; threshold: Threshold })
  | (MetricBase & {
      kind: 'statistical';
      direction: Direction;
      allowedIncrease?: number;
      allowedDecrease?: number;
      confidence: number;
      /** Range-query resolution in seconds. */
      step: number;
    });

export interface CanaryConfig {
  variants: { canary: string; baseline: string };
  groups: Record<string, number>;
  metrics: MetricConfig[];
}

const TOP = ['variants', 'groups', 'metrics'];
const METRIC_KEYS = [
  'name',
  'query',
  'queries',
  'kind',
  'threshold',
  'group',
  'critical',
  'dry-run',
  'min-samples',
  'no-data',
  'direction',
  'allowed-increase',
  'allowed-decrease',
  'confidence',
  'step',
];

type Raw = Record<string, unknown>;

function mapping(value: unknown, where: string, what: string): Raw {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ConfigurationError(`${what} must be a mapping`, where);
  return value as Raw;
}

function unknownKeys(raw: Raw, known: string[], where: string) {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key))
      throw new ConfigurationError(`unknown key "${key}"; the keys are ${known.join(', ')}`, where);
  }
}

function text(raw: Raw, key: string, where: string): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '')
    throw new ConfigurationError('must be a non-empty string', `${where}.${key}`);
  return value.trim();
}

function number(raw: Raw, key: string, where: string, min = 0): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min)
    throw new ConfigurationError(`must be a number >= ${min}`, `${where}.${key}`);
  return value;
}

function choice<T extends string>(
  raw: Raw,
  key: string,
  choices: readonly T[],
  where: string,
): T | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (!choices.includes(value as T))
    throw new ConfigurationError(
      `must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`,
      `${where}.${key}`,
    );
  return value as T;
}

function bool(raw: Raw, key: string, where: string): boolean {
  const value = raw[key] ?? false;
  if (typeof value !== 'boolean') throw new ConfigurationError('must be true or false', `${where}.${key}`);
  return value;
}

const THRESHOLD =
  /^canary\s*(?:([-/])\s*baseline\s*)?(<=|<|>=|>)\s*(?:(baseline)(?:\s*([*+-])\s*([0-9.eE+-]+))?|([-+]?[0-9.eE+-]+))$/;

export function parseThreshold(source: string, where: string): Threshold {
  const m = THRESHOLD.exec(source.trim());
  const number = (s: string) => {
    const v = Number(s);
    if (!Number.isFinite(v)) throw new ConfigurationError(`"${s}" is not a number`, where);
    return v;
  };
  if (!m) {
    throw new ConfigurationError(
      `cannot read "${source}"; write canary <= 0.01, canary <= baseline * 1.2, canary - baseline <= 0.005 or canary / baseline <= 1.5`,
      where,
    );
  }
  const [, diff, operator, baseline, op, adjust, value] = m;
  return {
    text: source.trim(),
    left: diff === '-' ? 'canary - baseline' : diff === '/' ? 'canary / baseline' : 'canary',
    operator: operator as Threshold['operator'],
    right: baseline
      ? { baseline: true, ...(op ? { op: op as '*' | '+' | '-', value: number(adjust) } : {}) }
      : { value: number(value) },
  };
}

/** Parses the config text (inline or a file's, `where` naming it). */
export function parseCanaryConfig(source: string, where: string): CanaryConfig {
  let raw: unknown;
  try {
    raw = parseYaml(source);
  } catch (e) {
    throw new ConfigurationError(
      `does not parse as YAML or JSON: ${(e as Error).message.split('\n')[0]}`,
      where,
    );
  }
  const top = mapping(raw, where, 'the metrics config');
  unknownKeys(top, TOP, where);
  const variants = mapping(
    top.variants ?? { canary: 'canary', baseline: 'baseline' },
    `${where}: variants`,
    'variants',
  );
  unknownKeys(variants, ['canary', 'baseline'], `${where}: variants`);
  const groups = mapping(top.groups ?? {}, `${where}: groups`, 'groups');
  for (const [name, weight] of Object.entries(groups)) {
    if (typeof weight !== 'number' || !(weight > 0))
      throw new ConfigurationError(
        'must be a positive number (the group weight)',
        `${where}: groups.${name}`,
      );
  }
  if (!Array.isArray(top.metrics) || top.metrics.length === 0)
    throw new ConfigurationError('needs a list of metrics', `${where}: metrics`);
  const names = new Set<string>();
  const metrics = top.metrics.map((m, i) => {
    const at = `${where}: metrics[${i}]`;
    const metric = parseMetric(mapping(m, at, 'a metric'), at);
    if (names.has(metric.name)) throw new ConfigurationError(`the name "${metric.name}" is used twice`, at);
    names.add(metric.name);
    if (Object.keys(groups).length > 0 && !(metric.group in groups)) {
      throw new ConfigurationError(
        `group "${metric.group}" has no weight in groups (${Object.keys(groups).join(', ')})`,
        `${at}.group`,
      );
    }
    return metric;
  });
  return {
    variants: {
      canary: text(variants, 'canary', `${where}: variants`) ?? 'canary',
      baseline: text(variants, 'baseline', `${where}: variants`) ?? 'baseline',
    },
    groups: groups as Record<string, number>,
    metrics,
  };
}

function parseMetric(raw: Raw, at: string): MetricConfig {
  unknownKeys(raw, METRIC_KEYS, at);
  const name = text(raw, 'name', at);
  if (!name) throw new ConfigurationError('needs a name', at);
  const query = text(raw, 'query', at);
  const queries = raw.queries === undefined ? undefined : mapping(raw.queries, `${at}.queries`, 'queries');
  if (!query === !queries)
    throw new ConfigurationError('give query (with {{variant}}) or queries (canary and baseline)', at);
  if (queries) unknownKeys(queries, ['canary', 'baseline'], `${at}.queries`);
  const both = query
    ? { canary: query, baseline: query }
    : {
        canary: text(queries!, 'canary', `${at}.queries`),
        baseline: text(queries!, 'baseline', `${at}.queries`),
      };
  if (!both.canary || !both.baseline)
    throw new ConfigurationError('needs both canary and baseline', `${at}.queries`);
  if (query && !query.includes('{{variant}}'))
    throw new ConfigurationError(
      'has no {{variant}} placeholder, so canary and baseline would run the same query; add it or give queries',
      `${at}.query`,
    );
  const kind =
    choice(raw, 'kind', ['threshold', 'statistical'] as const, at) ??
    (raw.threshold ? 'threshold' : 'statistical');
  const base = {
    name,
    queries: both as { canary: string; baseline: string },
    group: text(raw, 'group', at) ?? 'default',
    critical: bool(raw, 'critical', at),
    dryRun: bool(raw, 'dry-run', at),
    noData: choice(raw, 'no-data', ['fail', 'inconclusive', 'pass'] as const, at) ?? 'inconclusive',
  };
  if (kind === 'threshold') {
    const threshold = text(raw, 'threshold', at);
    if (!threshold)
      throw new ConfigurationError('a threshold metric needs threshold, e.g. canary <= 0.01', at);
    for (const key of ['direction', 'allowed-increase', 'allowed-decrease', 'confidence', 'step']) {
      if (raw[key] !== undefined)
        throw new ConfigurationError(`"${key}" is for statistical metrics`, `${at}.${key}`);
    }
    return {
      ...base,
      kind,
      minSamples: number(raw, 'min-samples', at, 1) ?? 1,
      threshold: parseThreshold(threshold, `${at}.threshold`),
    };
  }
  if (raw.threshold !== undefined)
    throw new ConfigurationError('"threshold" is for threshold metrics', `${at}.threshold`);
  const confidence = number(raw, 'confidence', at) ?? 0.95;
  if (!(confidence > 0.5 && confidence < 1))
    throw new ConfigurationError('must be between 0.5 and 1', `${at}.confidence`);
  return {
    ...base,
    kind,
    minSamples: number(raw, 'min-samples', at, 1) ?? 3,
    direction: choice(raw, 'direction', ['increase', 'decrease', 'either'] as const, at) ?? 'either',
    allowedIncrease: number(raw, 'allowed-increase', at, 1),
    allowedDecrease: number(raw, 'allowed-decrease', at),
    confidence,
    step: number(raw, 'step', at, 1) ?? 15,
  };
}

/** The query of one side, {{variant}} filled in. */
export function queryFor(metric: MetricConfig, side: 'canary' | 'baseline', config: CanaryConfig): string {
  return metric.queries[side].replaceAll('{{variant}}', config.variants[side]);
}
