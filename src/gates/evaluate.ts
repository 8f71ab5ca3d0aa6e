import { ConfigurationError } from '../errors.js';
import type { GateResult } from '../report/types.js';
import { formatMetricName, type Gate, type Operator } from './parse.js';

export type MetricValues = Record<string, number | null>;

export interface SliceMetrics {
  /** `slice:<column>=<value>` */
  scope: string;
  metrics: MetricValues;
  /** The same slice measured on the baseline, when there is one. */
  baseline?: MetricValues;
  /** Too small or otherwise unfit to be judged; ineligible slices are reported by the command, not gated. */
  eligible: boolean;
  reason?: string;
  /** Confidence intervals of estimates in this slice (see GateContext.intervals). */
  intervals?: Record<string, [number, number]>;
}

export interface GateContext {
  metrics: MetricValues;
  /** Undefined when no baseline was given: every `baseline` gate then fails. */
  baseline?: MetricValues;
  slices?: SliceMetrics[];
  /**
   * Every metric name the command can produce, when that is more than `metrics` holds (per-class metrics
   * of classes absent from this data, say). Defaults to the keys of `metrics`.
   */
  known?: string[];
  /**
   * Where a metric is an estimate with a confidence interval (latency percentiles against a baseline):
   * a `baseline` gate on it fails only when the whole interval breaks the threshold, so noise alone
   * never fails it.
   */
  intervals?: Record<string, [number, number]>;
  /**
   * Why a metric is null in every scope, where the command knows more than "could not be computed" (a
   * merge of shard reports that cannot recompute it): the gate's reason says so.
   */
  unavailable?: Record<string, string>;
}

export interface GateSummary {
  passed: boolean;
  failed: GateResult[];
}

/** Scope of the single failed result of a slice gate that had no eligible slice to judge. */
export const NO_ELIGIBLE_SLICE_SCOPE = 'slice:*';

// Above this many names of one family (recall.<class>), the known-metrics list shows the family, not each name.
const FAMILY_LISTED_IN_FULL = 3;

/**
 * Judges every gate: one result per gate, or one per eligible slice for `slice.` gates. Fails closed: a
 * value that is missing, null, NaN or infinite, on either side, fails its gate with a reason.
 * Throws a ConfigurationError when a gate names a metric the command does not know.
 */
export function evaluateGates(gates: readonly Gate[], ctx: GateContext): GateResult[] {
  assertKnownMetrics(gates, ctx.known ?? Object.keys(ctx.metrics));
  return gates.flatMap((gate) => {
    const why = ctx.unavailable?.[gate.metric];
    return gate.perSlice
      ? judgeSlices(gate, ctx.slices ?? [], why)
      : [judge(gate, 'overall', ctx.metrics, ctx.baseline, '', ctx.intervals?.[gate.metric], why)];
  });
}

export function summarizeGates(results: readonly GateResult[]): GateSummary {
  const failed = results.filter((result) => !result.passed);
  return { passed: failed.length === 0, failed };
}

/**
 * Throws a ConfigurationError for gates on metrics outside `known`, listing the known ones and the closest
 * match. Exported so a command can check its gates before it spends minutes computing the metrics.
 */
export function assertKnownMetrics(gates: readonly Gate[], known: readonly string[]): void {
  const names = new Set(known);
  const unknown = gates.filter((gate) => !names.has(gate.metric));
  if (unknown.length === 0) return;
  const problems = unknown.map((gate) => {
    const closest = closestName(gate.metric, names);
    const hint = closest ? ` Did you mean \`${formatMetricName(closest)}\`?` : '';
    return `${gate.source}, line ${gate.line}: unknown metric \`${formatMetricName(gate.metric)}\` in \`${gate.expression}\`.${hint}`;
  });
  const list = names.size > 0 ? describeKnownMetrics([...names]) : '(none: this command produced no metrics)';
  throw new ConfigurationError(`${problems.join('\n')}\nKnown metrics: ${list}`);
}

/**
 * The one place a measured value meets its threshold. A gate judged on an interval passes the interval's
 * bound nearest to passing through here (see judge).
 */
export function compare(operator: Operator, actual: number, threshold: number): boolean {
  switch (operator) {
    case '>=':
      return actual >= threshold;
    case '<=':
      return actual <= threshold;
    case '>':
      return actual > threshold;
    case '<':
      return actual < threshold;
    case '==':
      return actual === threshold;
    case '!=':
      return actual !== threshold;
  }
}

function judgeSlices(gate: Gate, slices: readonly SliceMetrics[], why?: string): GateResult[] {
  const eligible = slices.filter((slice) => slice.eligible);
  if (eligible.length > 0) {
    return eligible.map((slice) =>
      judge(
        gate,
        slice.scope,
        slice.metrics,
        slice.baseline,
        ' for this slice',
        slice.intervals?.[gate.metric],
        why,
      ),
    );
  }
  const reason =
    slices.length === 0
      ? 'no slices were computed, so a slice gate cannot pass (configure the slice columns)'
      : `none of the ${slices.length} slices is eligible (${slices.map(describeIneligible).join('; ')})`;
  return [result(gate, NO_ELIGIBLE_SLICE_SCOPE, null, null, [reason])];
}

function describeIneligible(slice: SliceMetrics): string {
  return slice.reason ? `${slice.scope}: ${slice.reason}` : slice.scope;
}

function judge(
  gate: Gate,
  scope: string,
  metrics: MetricValues,
  baseline: MetricValues | undefined,
  context = '',
  interval?: [number, number],
  why?: string,
): GateResult {
  const name = `\`${formatMetricName(gate.metric)}\``;
  const actual = usable(metrics[gate.metric], name, context, why);
  const threshold = resolveThreshold(gate, baseline, name, context, why);
  const problems = [actual.problem, threshold.problem].filter((p): p is string => p !== undefined);
  if (!interval || gate.threshold.kind !== 'baseline' || problems.length > 0)
    return result(gate, scope, actual.value, threshold.value, problems);
  // The bound nearest to passing decides: the gate fails only when the whole interval breaks it.
  const op = gate.operator;
  const nearest =
    op === '<=' || op === '<' ? interval[0] : op === '>=' || op === '>' ? interval[1] : actual.value!;
  return {
    ...result(gate, scope, actual.value, threshold.value, []),
    passed: compare(op, nearest, threshold.value!),
    interval,
  };
}

function result(
  gate: Gate,
  scope: string,
  actual: number | null,
  threshold: number | null,
  problems: string[],
): GateResult {
  const passed = problems.length === 0 && compare(gate.operator, actual!, threshold!);
  return {
    expression: gate.expression,
    metric: gate.metric,
    operator: gate.operator,
    actual,
    threshold,
    passed,
    scope,
    ...(problems.length > 0 ? { reason: problems.join('; ') } : {}),
  };
}

interface Resolved {
  value: number | null;
  problem?: string;
}

function resolveThreshold(
  gate: Gate,
  baseline: MetricValues | undefined,
  name: string,
  context: string,
  why?: string,
): Resolved {
  const { threshold } = gate;
  if (threshold.kind === 'value') return { value: threshold.value };
  if (baseline === undefined) return { value: null, problem: `no baseline was given${context}` };
  const base = usable(baseline[gate.metric], `the baseline's ${name}`, context, why);
  if (base.value === null || !threshold.adjust) return base;
  const { op, value } = threshold.adjust;
  const adjusted = op === '+' ? base.value + value : op === '-' ? base.value - value : base.value * value;
  return Number.isFinite(adjusted)
    ? { value: adjusted }
    : { value: null, problem: `baseline ${op} ${value} overflows` };
}

/** A value a gate can be judged on, or null with the reason it cannot. */
function usable(value: number | null | undefined, name: string, context: string, why?: string): Resolved {
  if (value === undefined) return { value: null, problem: `${name} was not measured${context}` };
  if (value === null)
    return { value: null, problem: `${name} could not be computed${context}${why ? `: ${why}` : ''}` };
  if (Number.isNaN(value)) return { value: null, problem: `${name} is NaN${context}` };
  if (!Number.isFinite(value)) return { value: null, problem: `${name} is ${value}${context}` };
  return { value };
}

/** Sorted, with large families (per-class, per-column) folded into one entry each. */
export function describeKnownMetrics(names: readonly string[]): string {
  const families = new Map<string, string[]>();
  const entries: { key: string; text: string }[] = [];
  for (const name of [...new Set(names)].sort()) {
    const family = /^([A-Za-z_][A-Za-z0-9_]*)([.(])/.exec(name);
    if (!family) {
      entries.push({ key: name, text: name });
      continue;
    }
    const key = family[1] + family[2];
    families.set(key, [...(families.get(key) ?? []), name]);
  }
  for (const [key, members] of families) {
    if (members.length <= FAMILY_LISTED_IN_FULL) {
      for (const member of members) entries.push({ key: member, text: formatMetricName(member) });
      continue;
    }
    const shown = members.slice(0, FAMILY_LISTED_IN_FULL).map(formatMetricName).join(', ');
    const pattern = key.endsWith('(') ? `${key}<column>)` : `${key}<class>`;
    entries.push({ key, text: `${pattern} (${members.length} names: ${shown}, …)` });
  }
  return entries
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((entry) => entry.text)
    .join(', ');
}

/** The known name nearest by edit distance, if it is near enough to be a typo rather than another metric. */
function closestName(name: string, known: ReadonlySet<string>): string | undefined {
  const target = name.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const candidate of [...known].sort()) {
    const distance = editDistance(target, candidate.toLowerCase());
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  const tolerance = Math.max(2, Math.floor(name.length / 3));
  return best && best.distance <= tolerance ? best.name : undefined;
}

/** Levenshtein distance, two rows at a time. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}
