import {
  code,
  details,
  formatNumber,
  gateTable,
  metricsTable,
  renderHeader,
  table,
} from '../report/markdown.js';
import type { Report } from '../report/types.js';
import type { SliceResult } from './validate-model.js';

interface Interval {
  delta: number;
  low: number;
  high: number;
  significant: boolean;
}

interface Comparison {
  metrics: Record<string, number | null>;
  mcnemar?: { b: number; c: number; pValue: number };
  /** null in a merge of shards: see intervalsUnavailable. */
  intervals?: Record<string, Interval> | null;
  intervalsUnavailable?: string;
}

/** Headline metrics shown first; the rest (per class) go in their own table. */
const isHeadline = (name: string) => !name.includes('.');

/** The job summary and PR comment of validate-model: every figure, also when it passes. */
export function renderValidateModel(report: Report): string {
  const d = report.details as Record<string, any>;
  const parts = [renderHeader(report, 'mlgate validate-model'), gateTable(report.gates)];
  for (const w of report.warnings) parts.push(`> [!WARNING]\n> ${w}`);

  const headline = Object.fromEntries(Object.entries(report.metrics).filter(([k]) => isHeadline(k)));
  const comparison = d.baseline as Comparison | undefined;
  const shards = d.merge?.shards as { rows: number }[] | undefined;
  const merged = shards ? `, merged from ${shards.length} shards` : '';
  parts.push(`#### Metrics (${d.task}, ${formatNumber(d.data?.rowsEvaluated)} rows${merged})`);
  parts.push(comparison ? comparisonTable(headline, comparison) : metricsTable(headline));
  if (comparison?.intervalsUnavailable)
    parts.push(`No confidence intervals: ${comparison.intervalsUnavailable}.`);
  if (comparison?.mcnemar) {
    const m = comparison.mcnemar;
    parts.push(
      `Accuracy difference, McNemar's exact test: ${m.b} rows only the model got right, ${m.c} only the baseline; p = ${formatNumber(m.pValue)} (${m.pValue < 0.05 ? 'significant' : 'not significant'} at 0.05).`,
    );
  }

  if (d.confusionMatrix)
    parts.push(
      details(
        'Confusion matrix (rows: true label, columns: predicted)',
        confusionTable(d.confusionMatrix),
        true,
      ),
    );
  if (d.perClass) {
    const rows = (d.perClass as any[]).map((c) => [code(c.label), c.precision, c.recall, c.f1, c.support]);
    parts.push(
      details(
        'Per class',
        table(['Class', 'Precision', 'Recall', 'F1', 'Support'], rows, [
          'left',
          'right',
          'right',
          'right',
          'right',
        ]),
      ),
    );
  }
  if (d.slices)
    parts.push(
      details(
        `Slices by ${d.slices.columns.join(', ')}`,
        sliceTable(d.slices.results, d.task, d.slices.minSliceSize),
        true,
      ),
    );
  parts.push(details('Model and data', modelAndData(d)));
  return `${parts.join('\n\n')}\n`;
}

function comparisonTable(metrics: Record<string, number | null>, comparison: Comparison): string {
  const intervals = comparison.intervals !== null;
  const rows = Object.keys(metrics).map((name) => {
    const base = comparison.metrics[name];
    const interval = comparison.intervals?.[name];
    const value = metrics[name];
    const delta = value != null && base != null ? value - base : null;
    const ci = interval ? `[${signed(interval.low)}, ${signed(interval.high)}]` : '';
    const verdict = !interval
      ? ''
      : !interval.significant
        ? 'not significant'
        : isImprovement(name, interval.delta)
          ? 'significantly better'
          : 'significantly worse';
    const row = [code(name), value, base ?? null, delta === null ? null : signed(delta)];
    return intervals ? [...row, ci, verdict] : row;
  });
  const headers = ['Metric', 'Model', 'Baseline', 'Δ'];
  const align = ['left', 'right', 'right', 'right'] as const;
  return intervals
    ? table([...headers, '95% CI of Δ (paired bootstrap)', ''], rows, [...align, 'right', 'left'])
    : table(headers, rows, align);
}

/** Errors and losses improve downwards; every other metric upwards. */
const LOWER_IS_BETTER = new Set(['log_loss', 'mae', 'mse', 'rmse', 'mape', 'max_error']);
const isImprovement = (metric: string, delta: number) =>
  LOWER_IS_BETTER.has(metric) ? delta < 0 : delta > 0;

const signed = (x: number) => (x > 0 ? `+${formatNumber(x)}` : formatNumber(x));

function confusionTable(cm: { labels: string[]; matrix: number[][] }): string {
  return table(
    ['true \\ predicted', ...cm.labels],
    cm.matrix.map((row, i) => [code(cm.labels[i]), ...row]),
    ['left', ...cm.labels.map(() => 'right' as const)],
  );
}

function sliceTable(slices: SliceResult[], task: string, minSize: number): string {
  const keys = task === 'regression' ? ['rmse', 'mae', 'r2'] : ['accuracy', 'f1_macro', 'roc_auc'];
  const rows = slices.map((s) => [
    code(s.scope.slice('slice:'.length)),
    s.rows,
    s.small ? `⚠️ under ${minSize} rows: not gated` : '',
    ...keys.map((k) => s.metrics[k]),
    ...(s.baseline ? keys.map((k) => s.baseline![k]) : []),
  ]);
  const hasBaseline = slices.some((s) => s.baseline);
  const headers = ['Slice', 'Rows', '', ...keys, ...(hasBaseline ? keys.map((k) => `baseline ${k}`) : [])];
  return table(headers, rows);
}

function modelAndData(d: Record<string, any>): string {
  const model = (m: any, name: string) => [
    '',
    `**${name}**: ${code(m.path).markdown} (${formatNumber(m.sizeBytes)} bytes), read as ${m.interpretation ?? 'n/a'}`,
    ...m.feeds.map(
      (f: any) =>
        `- input ${code(f.input).markdown} (${f.as}) ← ${f.columns.length} column(s): ${f.columns.slice(0, 12).join(', ')}${f.columns.length > 12 ? ', …' : ''}`,
    ),
  ];
  const p = d.performance;
  const run = d.merge
    ? `**Run**: merged ${d.merge.shards.length} shard reports in ${p.seconds.toFixed(2)} s (${d.merge.shards.map((s: any) => `${code(s.path).markdown}: ${formatNumber(s.rows)} rows`).join(', ')})`
    : `**Run**: ${p.seconds.toFixed(2)} s, ${formatNumber(Math.round(p.rowsPerSecond))} rows/s, batch ${formatNumber(p.batchSize)}`;
  return [
    ...model(d.model, 'Model'),
    ...(d.baselineModel ? model(d.baselineModel, 'Baseline') : []),
    '',
    `**Data**: ${d.data.files.map((f: string) => code(f).markdown).join(', ')}; ${formatNumber(d.data.rowsRead)} rows read, ${formatNumber(d.data.rowsSkipped)} skipped (missing-values: ${d.data.missingValues}).`,
    `${run}, peak RSS ${Math.round(p.peakRssMb)} MB; ${d.environment.platform}, Node ${d.environment.node}.`,
  ].join('\n');
}
