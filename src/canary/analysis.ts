/**
 * The analysis window of canary-gate: every `interval`, each metric is measured on both variants and
 * judged; limits on failed, inconclusive and errored measurements stop the analysis early; at the end the
 * metrics' results are scored (Kayenta's weighted sum) and turned into one decision.
 *
 * Fail closed: a provider that keeps failing, data that is missing or stale, or a metric that was never
 * judged can make the decision inconclusive or rollback, never promote.
 */
import type { Logger } from '../logging.js';
import { type CanaryConfig, type MetricConfig, queryFor, type Threshold } from './config.js';
import { type Classification, classify } from './judge.js';
import { type MetricProvider, ProviderError, type QueryResult, type Sample } from './providers.js';
import { type ScoreResult, score } from './scorer.js';

export interface AnalysisSettings {
  intervalMs: number;
  iterations: number;
  /** Failed measurements (not dry-run) tolerated across the analysis; one more stops it: rollback. */
  failureLimit: number;
  /** Inconclusive measurements tolerated; one more stops it: inconclusive. Undefined: no limit. */
  inconclusiveLimit?: number;
  /** Consecutive provider errors of one metric tolerated; one more stops it: inconclusive. */
  errorLimit: number;
  /** Stop early and promote after this many iterations in a row where every metric passed (0: off). */
  consecutiveSuccesses: number;
  /** Statistical metrics compare the samples of this window, ending now. */
  lookbackMs: number;
  /** A newest sample older than this is stale: no data. */
  maxAgeMs: number;
  passScore: number;
  marginalScore: number;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive' | 'error';

export interface Measurement {
  metric: string;
  verdict: Verdict;
  reason: string;
  canary?: number | { samples: number; median: number };
  baseline?: number | { samples: number; median: number };
  classification?: Classification;
  estimate?: number;
  interval?: [number, number];
  pValue?: number;
}

export interface Iteration {
  index: number;
  at: string;
  measurements: Measurement[];
}

export interface MetricResult {
  name: string;
  kind: MetricConfig['kind'];
  group: string;
  critical: boolean;
  dryRun: boolean;
  queries: { canary: string; baseline: string };
  verdict: Verdict;
  reason: string;
  counts: Record<Verdict, number>;
  last?: Measurement;
}

export type Decision = 'promote' | 'rollback' | 'inconclusive';

export interface AnalysisResult {
  decision: Decision;
  reason: string;
  score: number;
  scoring: ScoreResult;
  iterations: Iteration[];
  metrics: MetricResult[];
  stoppedEarly?: string;
}

export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function runAnalysis(
  config: CanaryConfig,
  provider: MetricProvider,
  settings: AnalysisSettings,
  logger: Logger,
  clock: Clock = realClock,
): Promise<AnalysisResult> {
  const iterations: Iteration[] = [];
  const results = new Map<string, MetricResult>(
    config.metrics.map((m) => [
      m.name,
      {
        name: m.name,
        kind: m.kind,
        group: m.group,
        critical: m.critical,
        dryRun: m.dryRun,
        queries: { canary: queryFor(m, 'canary', config), baseline: queryFor(m, 'baseline', config) },
        verdict: 'inconclusive',
        reason: 'not measured',
        counts: { pass: 0, fail: 0, inconclusive: 0, error: 0 },
      },
    ]),
  );
  const consecutiveErrors = new Map<string, number>();
  let streak = 0;
  let stoppedEarly: { why: string; decision: Decision } | undefined;
  const totals = { fail: 0, inconclusive: 0 };

  for (let index = 1; index <= settings.iterations && !stoppedEarly; index++) {
    if (index > 1) await clock.sleep(settings.intervalMs);
    const now = clock.now();
    const measurements: Measurement[] = [];
    for (const metric of config.metrics) {
      const m = await measure(metric, config, provider, settings, now);
      measurements.push(m);
      const result = results.get(metric.name)!;
      result.counts[m.verdict]++;
      // The result is the latest judgement; an error keeps the previous one.
      if (m.verdict !== 'error' || !result.last)
        [result.verdict, result.reason, result.last] = [m.verdict, m.reason, m];
      const errors = m.verdict === 'error' ? (consecutiveErrors.get(metric.name) ?? 0) + 1 : 0;
      consecutiveErrors.set(metric.name, errors);
      if (metric.dryRun) continue;
      if (m.verdict === 'fail') totals.fail++;
      if (m.verdict === 'inconclusive') totals.inconclusive++;
      if (errors > settings.errorLimit) {
        stoppedEarly = {
          why: `${metric.name}: the metrics provider failed ${errors} times in a row (error-limit ${settings.errorLimit}): ${m.reason}`,
          decision: 'inconclusive',
        };
      }
    }
    iterations.push({ index, at: now.toISOString(), measurements });
    logger.info(
      `iteration ${index}/${settings.iterations}: ${measurements.map((m) => `${m.metric} ${m.verdict}`).join(', ')}`,
    );
    if (stoppedEarly) break;
    if (totals.fail > settings.failureLimit) {
      stoppedEarly = {
        why: `${totals.fail} failed measurement(s), more than failure-limit ${settings.failureLimit}`,
        decision: 'rollback',
      };
    } else if (settings.inconclusiveLimit !== undefined && totals.inconclusive > settings.inconclusiveLimit) {
      stoppedEarly = {
        why: `${totals.inconclusive} inconclusive measurement(s), more than inconclusive-limit ${settings.inconclusiveLimit}`,
        decision: 'inconclusive',
      };
    }
    const gated = measurements.filter((m) => !results.get(m.metric)!.dryRun);
    streak = gated.every((m) => m.verdict === 'pass') ? streak + 1 : 0;
    if (
      !stoppedEarly &&
      settings.consecutiveSuccesses > 0 &&
      streak >= settings.consecutiveSuccesses &&
      index < settings.iterations
    ) {
      stoppedEarly = { why: `every metric passed ${streak} iterations in a row`, decision: 'promote' };
    }
  }

  const metrics = [...results.values()];
  const gated = metrics.filter((m) => !m.dryRun);
  const scoring = score(
    gated.map((m) => ({
      name: m.name,
      group: m.group,
      critical: m.critical,
      classification: classificationOf(m),
    })),
    weightsOf(config.groups, gated),
  );
  const decided = decide(gated, scoring, settings, stoppedEarly);
  return {
    ...decided,
    score: scoring.score,
    scoring,
    iterations,
    metrics,
    ...(stoppedEarly ? { stoppedEarly: stoppedEarly.why } : {}),
  };
}

/**
 * The group weights of the groups that have metrics to score, scaled to sum to 100: a group whose only
 * metrics are dry-run must not take its share of the score with it.
 */
function weightsOf(
  groups: Record<string, number>,
  gated: MetricResult[],
): Record<string, number> | undefined {
  const present = Object.entries(groups).filter(([name]) => gated.some((m) => m.group === name));
  const total = present.reduce((sum, [, w]) => sum + w, 0);
  return present.length > 0
    ? Object.fromEntries(present.map(([name, w]) => [name, (100 * w) / total]))
    : undefined;
}

/** What the scorer sees of a metric's result. */
function classificationOf(m: MetricResult): Classification {
  if (m.verdict === 'pass') return 'Pass';
  if (m.verdict === 'fail') return m.last?.classification === 'Low' ? 'Low' : 'High';
  return m.verdict === 'error' ? 'Error' : 'Nodata';
}

function decide(
  gated: MetricResult[],
  scoring: ScoreResult,
  settings: AnalysisSettings,
  stoppedEarly: { why: string; decision: Decision } | undefined,
): { decision: Decision; reason: string } {
  const critical = gated.filter((m) => m.critical && m.verdict === 'fail');
  if (critical.length > 0)
    return {
      decision: 'rollback',
      reason: `critical metric failed: ${critical.map((m) => `${m.name} (${m.reason})`).join('; ')}`,
    };
  if (stoppedEarly?.decision === 'rollback') return { decision: 'rollback', reason: stoppedEarly.why };
  if (stoppedEarly?.decision === 'inconclusive')
    return { decision: 'inconclusive', reason: stoppedEarly.why };
  const unjudged = gated.filter((m) => m.verdict === 'inconclusive' || m.verdict === 'error');
  const failed = gated.filter((m) => m.verdict === 'fail');
  // Before the score: Kayenta's scorer gives 0 when a critical metric has no data, and no data is not
  // evidence of a bad canary.
  if (unjudged.length > 0)
    return {
      decision: 'inconclusive',
      reason: `not every metric could be judged: ${unjudged.map((m) => `${m.name} (${m.reason})`).join('; ')}`,
    };
  if (scoring.score < settings.marginalScore)
    return {
      decision: 'rollback',
      reason: `score ${format(scoring.score)} is below the marginal score ${settings.marginalScore}`,
    };
  if (scoring.score < settings.passScore)
    return {
      decision: 'inconclusive',
      reason: `score ${format(scoring.score)} is marginal (pass at ${settings.passScore})`,
    };
  if (failed.length > 0)
    return {
      decision: 'inconclusive',
      reason: `score passes, but ${failed.map((m) => m.name).join(', ')} failed`,
    };
  return {
    decision: 'promote',
    reason: `every metric passed, score ${format(scoring.score)}${stoppedEarly ? ` (${stoppedEarly.why})` : ''}`,
  };
}

const format = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));

async function measure(
  metric: MetricConfig,
  config: CanaryConfig,
  provider: MetricProvider,
  settings: AnalysisSettings,
  now: Date,
): Promise<Measurement> {
  const queries = {
    canary: queryFor(metric, 'canary', config),
    baseline: queryFor(metric, 'baseline', config),
  };
  try {
    return metric.kind === 'threshold'
      ? await measureThreshold(metric, queries, provider, settings, now)
      : await measureStatistical(metric, queries, provider, settings, now);
  } catch (e) {
    // A provider that does not answer is counted, never judged; anything else (a bad query) stops the run.
    if (!(e instanceof ProviderError)) throw e;
    return { metric: metric.name, verdict: 'error', reason: e.message };
  }
}

/** The no-data policy applied: a metric without data is never silently judged on nothing. */
function noData(metric: MetricConfig, reason: string, extra: Partial<Measurement> = {}): Measurement {
  const verdict: Verdict =
    metric.noData === 'fail' ? 'fail' : metric.noData === 'pass' ? 'pass' : 'inconclusive';
  return { metric: metric.name, verdict, reason: `no data: ${reason} (no-data: ${metric.noData})`, ...extra };
}

function stale(samples: Sample[], now: Date, maxAgeMs: number): string | undefined {
  const newest = Math.max(...samples.map((s) => s.t));
  const age = now.getTime() / 1000 - newest;
  return age * 1000 > maxAgeMs
    ? `the newest sample is ${Math.round(age)} s old (max-age ${maxAgeMs / 1000} s)`
    : undefined;
}

async function measureThreshold(
  metric: Extract<MetricConfig, { kind: 'threshold' }>,
  queries: { canary: string; baseline: string },
  provider: MetricProvider,
  settings: AnalysisSettings,
  now: Date,
): Promise<Measurement> {
  const needsBaseline = metric.threshold.left !== 'canary' || 'baseline' in metric.threshold.right;
  const value = async (side: 'canary' | 'baseline') => {
    const result: QueryResult = await provider.instant(queries[side], now);
    if (result.kind === 'no-data') return { missing: `${side}: ${result.reason}` };
    const sample = result.kind === 'value' ? result.sample : result.samples.at(-1);
    if (!sample) return { missing: `${side}: no sample` };
    const old = stale([sample], now, settings.maxAgeMs);
    if (old) return { missing: `${side}: ${old}` };
    if (Number.isNaN(sample.v)) return { missing: `${side} is NaN (no traffic?)` };
    return { value: sample.v };
  };
  const canary = await value('canary');
  const baseline = needsBaseline ? await value('baseline') : undefined;
  const missing = [canary.missing, baseline?.missing].filter(Boolean).join('; ');
  if (missing) return noData(metric, missing);
  const passed = holds(metric.threshold, canary.value!, baseline?.value);
  return {
    metric: metric.name,
    verdict: passed ? 'pass' : 'fail',
    reason: `${describe(metric.threshold, canary.value!, baseline?.value)}: ${passed ? 'holds' : 'broken'}`,
    canary: canary.value,
    ...(baseline ? { baseline: baseline.value } : {}),
  };
}

function holds(t: Threshold, canary: number, baseline: number | undefined): boolean {
  const left =
    t.left === 'canary' ? canary : t.left === 'canary - baseline' ? canary - baseline! : canary / baseline!;
  const r = t.right;
  const right =
    'value' in r && !('baseline' in r)
      ? r.value
      : r.op === '*'
        ? baseline! * r.value!
        : r.op === '+'
          ? baseline! + r.value!
          : r.op === '-'
            ? baseline! - r.value!
            : baseline!;
  // NaN on either side (0 / 0) fails: a threshold that cannot be computed does not hold.
  switch (t.operator) {
    case '<=':
      return left <= right;
    case '<':
      return left < right;
    case '>=':
      return left >= right;
    case '>':
      return left > right;
  }
}

function describe(t: Threshold, canary: number, baseline: number | undefined): string {
  const f = (x: number) => String(Number(x.toPrecision(4)));
  return `${t.text} with canary ${f(canary)}${baseline === undefined ? '' : `, baseline ${f(baseline)}`}`;
}

async function measureStatistical(
  metric: Extract<MetricConfig, { kind: 'statistical' }>,
  queries: { canary: string; baseline: string },
  provider: MetricProvider,
  settings: AnalysisSettings,
  now: Date,
): Promise<Measurement> {
  const start = new Date(now.getTime() - settings.lookbackMs);
  const samples = async (side: 'canary' | 'baseline') => {
    const result = await provider.range(queries[side], start, now, metric.step);
    if (result.kind === 'no-data') return { values: [] as number[], missing: `${side}: ${result.reason}` };
    const points = result.kind === 'samples' ? result.samples : [result.sample];
    const old = points.length > 0 ? stale(points, now, settings.maxAgeMs) : undefined;
    // NaN points (a rate over no requests) are removed, as Kayenta's default NaN strategy does.
    const values = points.map((p) => p.v).filter((v) => !Number.isNaN(v));
    return { values, missing: old ? `${side}: ${old}` : undefined };
  };
  const canary = await samples('canary');
  const baseline = await samples('baseline');
  const summary = (values: number[]) => ({ samples: values.length, median: median(values) });
  const extra = { canary: summary(canary.values), baseline: summary(baseline.values) };
  const missing = [canary.missing, baseline.missing].filter(Boolean).join('; ');
  if (missing) return noData(metric, missing, extra);
  const few = (['canary', 'baseline'] as const).filter(
    (side) => (side === 'canary' ? canary : baseline).values.length < metric.minSamples,
  );
  if (few.length > 0)
    return noData(
      metric,
      `${few.map((side) => `${side} has ${(side === 'canary' ? canary : baseline).values.length}`).join(', ')} sample(s), fewer than min-samples ${metric.minSamples}`,
      extra,
    );
  const c = classify(canary.values, baseline.values, {
    direction: metric.direction,
    confidence: metric.confidence,
    tolerance: 0.25,
    allowedIncrease: metric.allowedIncrease,
    allowedDecrease: metric.allowedDecrease,
    critical: metric.critical,
  });
  const verdict: Verdict =
    c.classification === 'Pass'
      ? 'pass'
      : c.classification === 'High' || c.classification === 'Low'
        ? 'fail'
        : c.classification === 'Error'
          ? 'error'
          : 'inconclusive';
  if (verdict === 'inconclusive') return noData(metric, c.reason, extra);
  return {
    metric: metric.name,
    verdict,
    reason: c.reason,
    ...extra,
    classification: c.classification,
    ...(c.estimate !== undefined ? { estimate: c.estimate } : {}),
    ...(c.interval ? { interval: c.interval } : {}),
    ...(c.pValue !== undefined ? { pValue: c.pValue } : {}),
  };
}
