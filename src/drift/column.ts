/**
 * One column's drift: which method tests it (Evidently's defaults by type and size, or the configured one),
 * what that method and the effect size say, and the verdict, in two steps. measureColumn() computes
 * everything that depends on the column alone; decideColumn() applies the rules once the p-values of all
 * columns have been adjusted for multiple testing together.
 */

import { ConfigurationError } from '../errors.js';
import {
  chi2Contingency,
  jensenShannon,
  ksTwoSample,
  normalisedWasserstein,
  psi,
  twoProportionZ,
} from './stats.js';
import { type CategoricalSummary, type ColumnKind, FEW_VALUES, type NumericSummary } from './summarize.js';

export const DRIFT_METHODS = ['ks', 'chisquare', 'z', 'wasserstein', 'jensenshannon', 'psi'] as const;
export type DriftMethod = (typeof DRIFT_METHODS)[number];

/** Methods whose verdict is a p-value below the threshold (and the effect-size floor); the rest are distances. */
export const P_VALUE_METHODS: ReadonlySet<DriftMethod> = new Set(['ks', 'chisquare', 'z']);
/** Methods that need numbers: a categorical column cannot use them. */
export const NUMERIC_METHODS: ReadonlySet<DriftMethod> = new Set(['ks', 'wasserstein']);

/** Evidently's thresholds: p-value methods drift below theirs, distances at or above. */
export const DEFAULT_THRESHOLDS: Record<DriftMethod, number> = {
  ks: 0.05,
  chisquare: 0.05,
  z: 0.05,
  wasserstein: 0.1,
  jensenshannon: 0.1,
  psi: 0.1,
};

/** Evidently's cut-off: up to this many reference values a column is tested with p-values, above it with distances. */
export const SMALL_REFERENCE = 1000;

/** The rules of the verdict (part of the drift config). */
export interface VerdictRules {
  /** p-value threshold of the test methods when a column sets none; also the null-rate test's. */
  alpha: number;
  /** A p-value method flags a column only when its effect size is at least this (0 turns the floor off). */
  effectSizeFloor: number;
  /** A change in the missing-value rate larger than this (and significant) drifts the column. */
  nullRateTolerance: number;
  /** A share of data values in categories the reference never had larger than this drifts the column. */
  unseenTolerance: number;
}

export interface ColumnSetting {
  method?: DriftMethod;
  threshold?: number;
}

export type Verdict = 'drift' | 'no_drift' | 'no_reference' | 'no_data' | 'missing_column';
export type EffectMeasure = 'wasserstein_norm' | 'jensenshannon';

export interface ColumnDrift {
  column: string;
  kind: ColumnKind;
  /** drift / no_drift, or why the column could not be evaluated (not counted in the drift share). */
  verdict: Verdict;
  drifted: boolean;
  /** One line per rule that decided, or why nothing could be tested. */
  reasons: string[];
  method: DriftMethod | null;
  methodSource: 'default' | 'config' | null;
  /** The method's statistic (KS D, chi-squared, |z|) or distance; higher = more different. 0 for identical samples. */
  score: number | null;
  /** p-value methods: the adjusted p-value must be below it; distances: the score must reach it. */
  threshold: number | null;
  pValue: number | null;
  /** After the multiple-testing correction across columns. */
  pValueAdjusted: number | null;
  effectSize: number | null;
  effectSizeMeasure: EffectMeasure | null;
  /** The floor p-value methods are held to (null for distance methods, which are their own effect size). */
  effectSizeFloor: number | null;
  /** The effect size over the line it is held to (threshold for distances, floor for p-value methods): >= 1 is a real shift. */
  normalizedScore: number | null;
  rows: { data: number; reference: number };
  /** Values present (not missing) on each side, and distinct values on both together. */
  values: { data: number; reference: number; distinct: number };
  nullRate: {
    data: number | null;
    reference: number | null;
    pValue: number | null;
    pValueAdjusted: number | null;
    tolerance: number;
    drifted: boolean;
  };
  /** Categorical columns: data values in categories the reference does not have. */
  unseen: {
    share: number;
    count: number;
    values: { value: string; count: number }[];
    tolerance: number;
    drifted: boolean;
  } | null;
  /** Every statistic computed on the way (KS D, raw and normalised Wasserstein, JS, PSI, chi-squared dof...). */
  statistics: Record<string, number | string>;
  /** Counts per bin (deciles of the reference, values, or the most common categories) for charts. */
  histogram: { labels: string[]; data: number[]; reference: number[] } | null;
}

/** A column as measured, before p-values are adjusted across columns. */
export interface Measurement {
  column: string;
  kind: ColumnKind;
  method: DriftMethod;
  methodSource: 'default' | 'config';
  threshold: number;
  score: number | null;
  pValue: number | null;
  effectSize: number | null;
  effectSizeMeasure: EffectMeasure;
  rows: { data: number; reference: number };
  values: { data: number; reference: number; distinct: number };
  nullRate: { data: number; reference: number; pValue: number };
  unseen: { share: number; count: number; values: { value: string; count: number }[] } | null;
  /** Set when the usual rules cannot or must not decide: constants that differ, values on one side only or on neither. */
  forced: { drifted: boolean; reason: string } | null;
  statistics: Record<string, number | string>;
  histogram: ColumnDrift['histogram'];
}

/** Evidently's default method: p-value tests for a small reference, distances for a large one. */
export function defaultMethod(kind: ColumnKind, referenceValues: number, distinct: number): DriftMethod {
  const discrete = kind === 'categorical' || distinct <= FEW_VALUES;
  if (referenceValues <= SMALL_REFERENCE) return distinct <= 2 ? 'z' : discrete ? 'chisquare' : 'ks';
  return discrete ? 'jensenshannon' : 'wasserstein';
}

/** Most categories shown in a histogram; the rest are summed into "(other)". */
const HISTOGRAM_CATEGORIES = 12;
/** Most unseen categories listed by name. */
const UNSEEN_LISTED = 10;

/** Everything about one column that does not depend on the others. */
export function measureColumn(
  column: string,
  rows: { data: number; reference: number },
  summary: NumericSummary | CategoricalSummary,
  setting: ColumnSetting | undefined,
  rules: VerdictRules,
): Measurement {
  const { kind, n } = summary;
  const missing = (side: 'data' | 'reference') => rows[side] - n[side];
  const nullTest = twoProportionZ(missing('data'), rows.data, missing('reference'), rows.reference);
  const distinct = distinctValues(summary);
  const method = setting?.method ?? defaultMethod(kind, n.reference, distinct);
  const base = {
    column,
    kind,
    method,
    methodSource: setting?.method ? ('config' as const) : ('default' as const),
    threshold: setting?.threshold ?? (P_VALUE_METHODS.has(method) ? rules.alpha : DEFAULT_THRESHOLDS[method]),
    effectSizeMeasure: (kind === 'numeric' ? 'wasserstein_norm' : 'jensenshannon') as EffectMeasure,
    rows,
    values: { data: n.data, reference: n.reference, distinct },
    nullRate: {
      data: missing('data') / rows.data,
      reference: missing('reference') / rows.reference,
      pValue: nullTest.pValue,
    },
  };
  if (n.data === 0 || n.reference === 0) {
    const empty = n.data === 0 && n.reference === 0;
    const side = n.data === 0 ? 'data' : 'reference';
    return {
      ...base,
      score: empty ? 0 : null,
      pValue: null,
      effectSize: empty ? 0 : null,
      unseen: null,
      forced: empty
        ? { drifted: false, reason: 'values: none on either side (every value is missing)' }
        : {
            drifted: true,
            reason: `values: every value is missing in the ${side} but not in the other sample`,
          },
      statistics: {},
      histogram: null,
    };
  }
  const bins = countBins(summary);
  const distances = binDistances(summary, bins);
  const { score, pValue, statistics } = runMethod(method, summary, bins, distances, column);
  const constants = constantValues(summary);
  return {
    ...base,
    score,
    pValue,
    effectSize: distances.wasserstein_norm ?? distances.jensenshannon,
    unseen: summary.kind === 'categorical' ? unseenCategories(summary) : null,
    forced:
      constants && constants.data !== constants.reference
        ? {
            drifted: true,
            reason: `values: constant, and different: ${JSON.stringify(constants.reference)} in the reference, ${JSON.stringify(constants.data)} in the data`,
          }
        : null,
    statistics: { ...distances, ...statistics },
    histogram: { labels: bins.labels, data: bins.data, reference: bins.reference },
  };
}

/** Both sides' single values when both are constant, else null. */
function constantValues(
  summary: NumericSummary | CategoricalSummary,
): { data: string; reference: string } | null {
  const only = (side: 'data' | 'reference') => {
    if (summary.kind === 'numeric') {
      const range = summary.range[side];
      return range && range[0] === range[1] ? String(range[0]) : null;
    }
    const seen = summary.categories.filter((c) => c[side] > 0);
    return seen.length === 1 ? seen[0].value : null;
  };
  const [data, reference] = [only('data'), only('reference')];
  return data !== null && reference !== null ? { data, reference } : null;
}

function distinctValues(summary: NumericSummary | CategoricalSummary): number {
  return summary.kind === 'numeric' ? summary.distinct : summary.categories.length;
}

interface CountBins {
  labels: string[];
  data: number[];
  reference: number[];
  /** 'values' (one bin per value or category) or 'deciles' (numeric, by the reference's deciles). */
  by: 'values' | 'deciles';
}

/** The bins every count-based method (chi-squared, Z, Jensen-Shannon, PSI) uses. */
function countBins(summary: NumericSummary | CategoricalSummary): CountBins {
  if (summary.kind === 'categorical') {
    const { categories } = summary;
    return {
      labels: categories.map((c) => c.value),
      data: categories.map((c) => c.data),
      reference: categories.map((c) => c.reference),
      by: 'values',
    };
  }
  if (summary.few) {
    return {
      labels: summary.few.map((f) => String(f.value)),
      data: summary.few.map((f) => f.data),
      reference: summary.few.map((f) => f.reference),
      by: 'values',
    };
  }
  const { edges, data, reference } = summary.deciles;
  const labels = data.map((_, i) =>
    i === 0
      ? `<= ${short(edges[0])}`
      : i === edges.length
        ? `> ${short(edges[i - 1])}`
        : `<= ${short(edges[i])}`,
  );
  return { labels, data, reference, by: 'deciles' };
}

/** The cheap statistics, computed for every column whatever its method; numeric ones only for numbers. */
interface Distances {
  bins: CountBins['by'];
  jensenshannon: number;
  psi: number;
  ks_statistic?: number;
  wasserstein?: number;
  wasserstein_norm?: number;
  reference_std?: number;
}

function binDistances(summary: NumericSummary | CategoricalSummary, bins: CountBins): Distances {
  const shared = {
    bins: bins.by,
    jensenshannon: jensenShannon(bins.data, bins.reference),
    psi: psi(bins.data, bins.reference),
  };
  if (summary.kind === 'categorical') return shared;
  return {
    ...shared,
    ks_statistic: summary.ksStatistic,
    wasserstein: summary.wasserstein,
    wasserstein_norm: normalisedWasserstein(summary.wasserstein, summary.referenceStd),
    reference_std: summary.referenceStd,
  };
}

/** The column's own method: its score, its p-value (test methods) and what else it reports. */
function runMethod(
  method: DriftMethod,
  summary: NumericSummary | CategoricalSummary,
  bins: CountBins,
  distances: Distances,
  column: string,
): { score: number; pValue: number | null; statistics: Record<string, number | string> } {
  switch (method) {
    case 'ks': {
      const { ksStatistic } = summary as NumericSummary;
      const ks = ksTwoSample(ksStatistic, summary.n.data, summary.n.reference);
      return { score: ks.statistic, pValue: ks.pValue, statistics: { ks_method: ks.method } };
    }
    case 'chisquare': {
      const chi2 = chi2Contingency([bins.data, bins.reference]);
      return { score: chi2.statistic, pValue: chi2.pValue, statistics: { chisquare_dof: chi2.dof } };
    }
    case 'z': {
      if (distinctValues(summary) > 2) {
        throw new ConfigurationError(
          `method z compares two proportions, but column "${column}" has ${distinctValues(summary)} distinct values; use chisquare`,
          `drift-config: columns.${column}.method`,
        );
      }
      const z = twoProportionZ(bins.data[0], summary.n.data, bins.reference[0], summary.n.reference);
      return { score: Math.abs(z.z), pValue: z.pValue, statistics: { z: z.z } };
    }
    case 'wasserstein':
      return { score: distances.wasserstein_norm!, pValue: null, statistics: {} };
    case 'jensenshannon':
      return { score: distances.jensenshannon, pValue: null, statistics: {} };
    case 'psi':
      return { score: distances.psi, pValue: null, statistics: {} };
  }
}

function unseenCategories(summary: CategoricalSummary): NonNullable<Measurement['unseen']> {
  const unseen = summary.categories.filter((c) => c.reference === 0 && c.data > 0);
  const count = unseen.reduce((s, c) => s + c.data, 0);
  return {
    share: summary.n.data > 0 ? count / summary.n.data : 0,
    count,
    values: [...unseen]
      .sort((a, b) => b.data - a.data)
      .slice(0, UNSEEN_LISTED)
      .map((c) => ({ value: c.value, count: c.data })),
  };
}

/** The verdict, given the column's p-values after adjustment across columns. */
export function decideColumn(
  m: Measurement,
  adjusted: { pValue: number | null; nullRate: number },
  rules: VerdictRules,
): ColumnDrift {
  const reasons: string[] = [];
  const isTest = P_VALUE_METHODS.has(m.method);
  const floor = isTest ? rules.effectSizeFloor : null;
  let valuesDrifted: boolean;
  if (m.forced) {
    valuesDrifted = m.forced.drifted;
    reasons.push(m.forced.reason);
  } else if (isTest) {
    const p = adjusted.pValue!;
    const significant = p < m.threshold;
    const large = m.effectSize! >= floor!;
    valuesDrifted = significant && large;
    const test = `${m.method} p = ${fmt(p)}${adjustedNote(m.pValue, p)}`;
    const effect = `${m.effectSizeMeasure} ${fmt(m.effectSize!)}`;
    if (!significant) reasons.push(`values: ${test} >= ${m.threshold}`);
    else if (large) reasons.push(`values: ${test} < ${m.threshold} and ${effect} >= ${floor}`);
    else
      reasons.push(`values: ${test} < ${m.threshold}, but ${effect} < ${floor}: a shift too small to matter`);
  } else {
    valuesDrifted = m.score! >= m.threshold;
    reasons.push(`values: ${m.method} ${fmt(m.score!)} ${valuesDrifted ? '>=' : '<'} ${m.threshold}`);
  }

  const change = Math.abs(m.nullRate.data - m.nullRate.reference);
  const nullDrifted = change > rules.nullRateTolerance && adjusted.nullRate < rules.alpha;
  if (nullDrifted) {
    reasons.push(
      `missing values: ${pct(m.nullRate.reference)} in the reference, ${pct(m.nullRate.data)} in the data (change > ${pct(rules.nullRateTolerance)}, p = ${fmt(adjusted.nullRate)})`,
    );
  }
  const unseenDrifted = m.unseen !== null && m.unseen.share > rules.unseenTolerance;
  if (unseenDrifted) {
    const names = m.unseen!.values.map((v) => `${JSON.stringify(v.value)} (${v.count})`).join(', ');
    reasons.push(
      `unseen categories: ${pct(m.unseen!.share)} of data values (> ${pct(rules.unseenTolerance)}): ${names}`,
    );
  }

  const drifted = valuesDrifted || nullDrifted || unseenDrifted;
  const line = isTest ? floor || DEFAULT_THRESHOLDS.wasserstein : m.threshold;
  return {
    column: m.column,
    kind: m.kind,
    verdict: drifted ? 'drift' : 'no_drift',
    drifted,
    reasons,
    method: m.method,
    methodSource: m.methodSource,
    score: m.score,
    threshold: m.threshold,
    pValue: m.pValue,
    pValueAdjusted: isTest ? adjusted.pValue : null,
    effectSize: m.effectSize,
    effectSizeMeasure: m.effectSize === null ? null : m.effectSizeMeasure,
    effectSizeFloor: floor,
    normalizedScore: m.effectSize === null ? null : (isTest ? m.effectSize : m.score!) / line,
    rows: m.rows,
    values: m.values,
    nullRate: {
      data: m.nullRate.data,
      reference: m.nullRate.reference,
      pValue: m.nullRate.pValue,
      pValueAdjusted: adjusted.nullRate,
      tolerance: rules.nullRateTolerance,
      drifted: nullDrifted,
    },
    unseen: m.unseen && { ...m.unseen, tolerance: rules.unseenTolerance, drifted: unseenDrifted },
    statistics: m.statistics,
    histogram: compactHistogram(m.histogram),
  };
}

/** A column that could not be evaluated: reported with its reason, not counted in the drift share. */
export function notEvaluable(
  column: string,
  kind: ColumnKind,
  verdict: 'no_reference' | 'no_data' | 'missing_column',
  reason: string,
  rows: { data: number; reference: number },
  rules: VerdictRules,
): ColumnDrift {
  return {
    column,
    kind,
    verdict,
    drifted: false,
    reasons: [reason],
    method: null,
    methodSource: null,
    score: null,
    threshold: null,
    pValue: null,
    pValueAdjusted: null,
    effectSize: null,
    effectSizeMeasure: null,
    effectSizeFloor: null,
    normalizedScore: null,
    rows,
    values: { data: 0, reference: 0, distinct: 0 },
    nullRate: {
      data: null,
      reference: null,
      pValue: null,
      pValueAdjusted: null,
      tolerance: rules.nullRateTolerance,
      drifted: false,
    },
    unseen: null,
    statistics: {},
    histogram: null,
  };
}

/** Keeps the most common categories of a long list and sums the rest into "(other)". */
function compactHistogram(h: ColumnDrift['histogram']): ColumnDrift['histogram'] {
  if (!h || h.labels.length <= HISTOGRAM_CATEGORIES) return h;
  const order = h.labels
    .map((_, i) => i)
    .sort((a, b) => h.data[b] + h.reference[b] - (h.data[a] + h.reference[a]));
  const top = order.slice(0, HISTOGRAM_CATEGORIES - 1);
  const rest = order.slice(HISTOGRAM_CATEGORIES - 1);
  const sum = (xs: number[]) => rest.reduce((s, i) => s + xs[i], 0);
  return {
    labels: [...top.map((i) => h.labels[i]), '(other)'],
    data: [...top.map((i) => h.data[i]), sum(h.data)],
    reference: [...top.map((i) => h.reference[i]), sum(h.reference)],
  };
}

function adjustedNote(raw: number | null, adjusted: number): string {
  return raw !== null && raw !== adjusted ? ` (adjusted; raw ${fmt(raw)})` : '';
}

/** Three significant digits; exponent form for small numbers. */
function fmt(x: number): string {
  if (x === 0) return '0';
  return Math.abs(x) < 1e-3 ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

const short = (x: number) => String(Number(x.toPrecision(4)));
const pct = (x: number) => `${fmt(100 * x)}%`;
