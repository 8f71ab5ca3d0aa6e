/**
 * The canary's score from its metrics' classifications, as Kayenta's WeightedSumScorer computes it:
 *
 * - each group scores the share of its metrics that pass, in percent. Only Pass, High, Low and
 *   NodataFailMetric count: Nodata and Error metrics are left out of the denominator, and a group with none
 *   of the four has no data (its reported score is 0);
 * - the summary is the sum of group score * weight / 100. Weights are percentages, used as given, not
 *   normalised: groups without one share what the given weights leave of 100 (so with none, all groups weigh
 *   equally), and a group without data counts as a full 100, so missing data neither helps nor hurts the
 *   others. The sum is rounded half up to two decimals;
 * - the score is 0 when any critical metric is not Pass (a critical Nodata included), or when half or more of
 *   the metrics are Nodata.
 */

import type { Classification } from './judge.js';

export interface ScoredMetric {
  name: string;
  group: string;
  classification: Classification;
  /** The classifier's critical flag (ClassifierResult.critical), not the metric's configuration. */
  critical?: boolean;
}

export interface GroupScore {
  name: string;
  /** Weight in the summary, in percent: as given, or this group's share of what the given weights leave. */
  weight: number;
  /** Percent of the counted metrics that pass; 0 when the group has no data. */
  score: number;
  passed: number;
  /** Metrics counted: Pass, High, Low and NodataFailMetric. */
  total: number;
  /** No counted metric: the group enters the summary as 100. */
  noData: boolean;
}

export interface ScoreResult {
  score: number;
  /** In the order the groups first appear among the metrics. */
  groups: GroupScore[];
  /** Critical metrics that did not pass; any makes the score 0. */
  criticalFailed: string[];
  /** Why the score was forced to 0, when it was. */
  reason?: string;
}

/** Percent of Nodata metrics at which Kayenta fails the canary whatever the groups score. */
export const NODATA_THRESHOLD = 50;

const COUNTED: ReadonlySet<Classification> = new Set(['Pass', 'High', 'Low', 'NodataFailMetric']);

/** Kayenta's weighted-sum score of the classified metrics; weights by group name, in percent. */
export function score(metrics: ScoredMetric[], weights: Record<string, number> = {}): ScoreResult {
  let weightSum = 0;
  for (const [group, weight] of Object.entries(weights)) {
    if (!(weight >= 0 && Number.isFinite(weight))) {
      throw new RangeError(`the weight of group ${group} must be a finite number >= 0, got ${weight}`);
    }
    weightSum += weight;
  }
  // Kayenta would hand the unweighted groups a negative share; a configuration that says more than 100% is a
  // mistake better reported than scored.
  if (weightSum > 100 + 1e-9) throw new RangeError(`group weights add up to ${weightSum}, more than 100`);

  const groups = new Map<string, { passed: number; total: number }>();
  for (const metric of metrics) {
    const group = groups.get(metric.group) ?? { passed: 0, total: 0 };
    groups.set(metric.group, group);
    if (COUNTED.has(metric.classification)) group.total++;
    if (metric.classification === 'Pass') group.passed++;
  }
  const unweighted = [...groups.keys()].filter((name) => !Object.hasOwn(weights, name)).length;
  const sharedWeight = unweighted > 0 ? (100 - weightSum) / unweighted : 0;
  const groupScores: GroupScore[] = [...groups].map(([name, { passed, total }]) => ({
    name,
    weight: Object.hasOwn(weights, name) ? weights[name] : sharedWeight,
    score: total === 0 ? 0 : (passed / total) * 100,
    passed,
    total,
    noData: total === 0,
  }));

  const criticalFailed = metrics.filter((m) => m.critical && m.classification !== 'Pass').map((m) => m.name);
  if (criticalFailed.length > 0) {
    return {
      score: 0,
      groups: groupScores,
      criticalFailed,
      reason: `critical metric(s) did not pass: ${criticalFailed.join(', ')}`,
    };
  }
  const nodata = metrics.filter((m) => m.classification === 'Nodata').length;
  if (metrics.length > 0 && (nodata / metrics.length) * 100 >= NODATA_THRESHOLD) {
    return {
      score: 0,
      groups: groupScores,
      criticalFailed,
      reason: `${nodata} of ${metrics.length} metrics had no data (${NODATA_THRESHOLD}% or more)`,
    };
  }
  let sum = 0;
  for (const group of groupScores) sum += ((group.noData ? 100 : group.score) * group.weight) / 100;
  return { score: roundHalfUp(sum, 2), groups: groupScores, criticalFailed };
}

/**
 * Commons Math's MathUtils.round(x, scale): half up on the shortest decimal that reads back as x, so 33.335
 * rounds to 33.34 though the double is a hair below it, where x * 100 rounding would say 33.33.
 */
function roundHalfUp(x: number, decimals: number): number {
  const text = Math.abs(x).toString();
  // Exponent notation only below 1e-6 or at 1e21 and above, where two decimals round to 0 or change nothing.
  if (text.includes('e')) return Math.abs(x) < 1 ? 0 : x;
  const [whole, fraction = ''] = text.split('.');
  if (fraction.length <= decimals) return x;
  const kept = BigInt(whole + fraction.slice(0, decimals)) + (fraction.charCodeAt(decimals) >= 53 ? 1n : 0n);
  const digits = kept.toString().padStart(decimals + 1, '0');
  const rounded = Number(`${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`);
  return x < 0 ? -rounded : rounded;
}
