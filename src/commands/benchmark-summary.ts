import { code, details, formatNumber, gateTable, renderHeader, table, xyChart } from '../report/markdown.js';
import type { Report } from '../report/types.js';
import type { Comparison, LevelResult } from './benchmark.js';

const ms = (x: number | null | undefined) =>
  x === null || x === undefined ? null : Number(x.toPrecision(4));
const levelName = (r: LevelResult) => `${r.level.name}=${r.level.value}`;

/** The job summary and PR comment of benchmark: gates, percentiles per level, a chart, the baseline, the machine. */
export function renderBenchmark(report: Report): string {
  const d = report.details as Record<string, any>;
  const levels = d.levels as LevelResult[];
  const parts = [renderHeader(report, 'mlgate benchmark'), gateTable(report.gates)];
  for (const w of report.warnings) parts.push(`> [!WARNING]\n> ${w}`);
  parts.push(`#### ${describeTarget(d)}`);
  parts.push(percentileTable(levels, d.target.kind === 'model' ? 'rows/s' : 'req/s'));
  parts.push(chart(levels));
  if (levels.some((l) => l.comparison)) {
    parts.push(
      `#### Against the baseline (${levels[0].comparison?.kind === 'interleaved' ? 'measured in alternating windows in this job' : `report ${d.baselineReport}`})`,
    );
    parts.push(comparisonTable(levels, d.settings));
  }
  parts.push(details('Environment and settings', environmentTable(d)));
  return parts.join('\n\n');
}

function describeTarget(d: Record<string, any>): string {
  const t = d.target;
  if (t.kind === 'model') {
    const provider =
      t.provider.used === t.provider.requested
        ? t.provider.used
        : `${t.provider.used} (asked: ${t.provider.requested})`;
    return `In-process: ${t.model.path}, provider ${provider}, threads ${t.threads}, load ${formatNumber(ms(t.model.loadMs))} ms`;
  }
  const loop = t.loop.kind === 'open' ? `open loop, ${t.loop.arrival} arrivals` : 'closed loop';
  return `HTTP: ${t.method} ${t.url} (${loop})`;
}

function percentileTable(levels: LevelResult[], unit: string): string {
  const rows = levels.map((r) => {
    const m = r.metrics;
    return [
      code(levelName(r)),
      r.measured.ok,
      ms(m.p50_ms),
      ms(m.p90_ms),
      ms(m.p95_ms),
      ms(m.p99_ms),
      ms(m.p999_ms),
      ms(m.mean_ms),
      ms(m.stdev_ms),
      ms(m.max_ms),
      m.throughput === null ? null : Number(m.throughput.toPrecision(4)),
      m.error_rate,
      r.measured.stable === null ? '' : r.measured.stable ? 'yes' : 'no',
    ];
  });
  return table(
    [
      'Level',
      'Calls',
      'p50 ms',
      'p90 ms',
      'p95 ms',
      'p99 ms',
      'p99.9 ms',
      'mean ms',
      'stdev ms',
      'max ms',
      unit,
      'errors',
      'stable',
    ],
    rows,
    ['left', ...Array(12).fill('right')],
  );
}

function chart(levels: LevelResult[]): string {
  const labels = levels.map(levelName);
  const value = (x: number | null | undefined) => x ?? Number.NaN;
  if (levels.some((l) => l.baseline)) {
    return xyChart({
      title: 'p95 latency (ms): baseline (bars), candidate (line)',
      labels,
      yAxis: 'ms',
      series: [
        { kind: 'bar', values: levels.map((l) => value(l.baseline?.metrics.p95_ms)) },
        { kind: 'line', values: levels.map((l) => value(l.metrics.p95_ms)) },
      ],
    });
  }
  return xyChart({
    title: 'Latency (ms): p50, p95, p99 lines, bottom to top',
    labels,
    yAxis: 'ms',
    series: (['p50_ms', 'p95_ms', 'p99_ms'] as const).map((name) => ({
      kind: 'line' as const,
      values: levels.map((l) => value(l.metrics[name])),
    })),
  });
}

function verdict(c: Comparison, threshold: number): string {
  if (c.regression) return `❌ slower by more than ${formatNumber(threshold * 100)}%`;
  if (c.significant) return 'slower, within the threshold';
  return c.ratios.p50_ms.high < 1 ? 'faster' : 'no significant difference';
}

function comparisonTable(
  levels: LevelResult[],
  settings: { confidence: number; regressionThreshold: number },
): string {
  const ratio = (c: Comparison | undefined, name: string) => {
    const r = c?.ratios[name];
    return r ? `×${r.estimate.toFixed(3)} [${r.low.toFixed(3)}, ${r.high.toFixed(3)}]` : null;
  };
  const rows = levels.map((r) => [
    code(levelName(r)),
    ms(r.baseline?.metrics.p95_ms),
    ms(r.metrics.p95_ms),
    ratio(r.comparison, 'p50_ms'),
    ratio(r.comparison, 'p95_ms'),
    ratio(r.comparison, 'p99_ms'),
    r.comparison ? formatNumber(r.comparison.pValue) : null,
    r.comparison ? verdict(r.comparison, settings.regressionThreshold) : 'not compared',
  ]);
  const percent = `${formatNumber(settings.confidence * 100)}%`;
  return [
    table(
      [
        'Level',
        'baseline p95 ms',
        'p95 ms',
        `p50 ratio [${percent}]`,
        `p95 ratio [${percent}]`,
        `p99 ratio [${percent}]`,
        'p (slower)',
        'Verdict',
      ],
      rows,
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
    `Ratios are candidate ÷ baseline with bootstrap intervals; p is a one-sided Mann-Whitney test. A regression needs both p < ${formatNumber(1 - settings.confidence)} and the p95 ratio's whole interval above ${formatNumber(1 + settings.regressionThreshold)}.`,
  ].join('\n\n');
}

function environmentTable(d: Record<string, any>): string {
  const env = d.environment as Record<string, unknown>;
  const s = d.settings as Record<string, unknown>;
  const rows = [
    ...Object.entries(env).map(([k, v]) => [k, String(v)]),
    ['warm-up ms', String(s.warmupMs)],
    ['min duration ms / min count', `${s.minDurationMs} / ${s.minCount}`],
    ['window ms / max windows', `${s.windowMs} / ${s.maxWindows}`],
    ['stability', s.stability === undefined ? 'off' : String(s.stability)],
  ];
  return table(['', ''], rows, ['left', 'left']);
}
