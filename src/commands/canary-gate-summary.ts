import type { Iteration, Measurement, MetricResult } from '../canary/analysis.js';
import { code, details, formatNumber, table } from '../report/markdown.js';
import type { Report } from '../report/types.js';

const ICON: Record<string, string> = { pass: '✅', fail: '❌', inconclusive: '❔', error: '⚠️' };
const TITLE: Record<string, string> = {
  promote: '✅ promote',
  rollback: '❌ rollback',
  inconclusive: '❔ inconclusive',
};

const value = (v: Measurement['canary']) =>
  v === undefined
    ? ''
    : typeof v === 'number'
      ? formatNumber(v)
      : `${v.samples} samples, median ${formatNumber(v.median)}`;

/** The job summary of canary-gate: the decision, one row per metric, the scoring, and the timeline. */
export function renderCanaryGate(report: Report): string {
  const d = report.details as Record<string, any>;
  const metrics = d.metrics as MetricResult[];
  const iterations = d.iterations as Iteration[];
  const parts = [
    `### mlgate canary-gate: ${TITLE[d.decision]} (score ${formatNumber(report.metrics.score)})`,
    `**Why**: ${d.reason}`,
  ];
  for (const w of report.warnings) parts.push(`> [!WARNING]\n> ${w}`);
  parts.push(
    `#### Metrics (${d.variants.canary} vs ${d.variants.baseline}, ${iterations.length} iteration${iterations.length === 1 ? '' : 's'})`,
  );
  parts.push(
    table(
      ['', 'Metric', 'Kind', 'Query (canary)', 'Canary', 'Baseline', 'Interval / effect', 'Reason'],
      metrics.map((m) => {
        const last = m.last;
        const effect =
          last?.interval !== undefined
            ? `shift ${formatNumber(last.estimate)} [${formatNumber(last.interval[0])}, ${formatNumber(last.interval[1])}]${last.pValue !== undefined ? `, p ${formatNumber(last.pValue)}` : ''}`
            : '';
        const flags = [
          m.critical ? 'critical' : '',
          m.dryRun ? 'dry-run' : '',
          m.group !== 'default' ? m.group : '',
        ]
          .filter(Boolean)
          .join(', ');
        return [
          ICON[m.verdict],
          `${m.name}${flags ? ` (${flags})` : ''}`,
          m.kind,
          code(m.queries.canary.length > 120 ? `${m.queries.canary.slice(0, 117)}...` : m.queries.canary),
          value(last?.canary),
          value(last?.baseline),
          effect,
          m.reason,
        ];
      }),
      ['center', 'left', 'left', 'left', 'right', 'right', 'left', 'left'],
    ),
  );
  const scoring = d.scoring as {
    groups: { name: string; weight: number; score: number; passed: number; total: number }[];
  };
  parts.push(
    details(
      `Score ${formatNumber(report.metrics.score)} (pass ${d.settings.passScore}, marginal ${d.settings.marginalScore})`,
      table(
        ['Group', 'Weight', 'Passed', 'Score'],
        scoring.groups.map((g) => [g.name, g.weight, `${g.passed} / ${g.total}`, g.score]),
        ['left', 'right', 'right', 'right'],
      ),
    ),
  );
  parts.push(details('Timeline', timeline(iterations, metrics)));
  return parts.join('\n\n');
}

function timeline(iterations: Iteration[], metrics: MetricResult[]): string {
  return table(
    ['#', 'Time', ...metrics.map((m) => m.name)],
    iterations.map((it) => [
      it.index,
      it.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      ...metrics.map((m) => {
        const x = it.measurements.find((s) => s.metric === m.name);
        return x ? ICON[x.verdict] : '';
      }),
    ]),
    ['right', 'left', ...metrics.map(() => 'center' as const)],
  );
}
