import { code, details, formatNumber, gateTable, renderHeader, table, xyChart } from '../report/markdown.js';
import type { Report } from '../report/types.js';
import type { CheckResult } from '../schema/index.js';

/** How many of the most drifted columns get a chart. */
const CHARTS = 3;

/** The job summary and PR comment of validate-data: gates, the schema table, the drift table and charts. */
export function renderValidateData(report: Report): string {
  const d = report.details as Record<string, any>;
  const parts = [renderHeader(report, 'mlgate validate-data'), gateTable(report.gates)];
  for (const w of report.warnings) parts.push(`> [!WARNING]\n> ${w}`);
  parts.push(
    `**Data**: ${formatNumber(d.data.rows)} rows, ${d.data.columns.length} columns` +
      (d.reference ? `; **reference**: ${formatNumber(d.reference.rows)} rows` : '') +
      `; ${formatNumber(d.quality.duplicateRows)} duplicate rows.`,
  );
  if (d.schema) parts.push(schemaSection(d.schema.checks as CheckResult[], d.failingRows));
  if (d.drift) parts.push(...driftSection(d.drift));
  parts.push(details('Null fraction per column', nullTable(d.quality.nullFractions)));
  return `${parts.join('\n\n')}\n`;
}

function schemaSection(
  checks: CheckResult[],
  failingRows?: { path: string; written: number; total: number },
): string {
  const failed = checks.filter((c) => !c.passed);
  const rows = [...failed, ...checks.filter((c) => c.passed && c.failed > 0)].map((c) => [
    c.passed ? '⚠️' : '❌',
    code(c.column ?? (c.columns ?? []).join(', ')),
    c.constraint,
    `${formatNumber(c.failed)} of ${formatNumber(c.checked)}`,
    c.tolerance < 1 ? `mostly ${c.tolerance}` : '',
    c.examples
      .map((e) => `line ${e.line}: ${e.value === null ? 'empty' : JSON.stringify(e.value)}`)
      .join('; '),
  ]);
  const head = `#### Schema: ${failed.length === 0 ? `all ${checks.length} checks passed` : `${failed.length} of ${checks.length} checks failed`}`;
  if (rows.length === 0) return head;
  const file = failingRows
    ? `\n\nFailing rows: ${formatNumber(failingRows.total)} (${formatNumber(failingRows.written)} written to ${code(failingRows.path).markdown}).`
    : '';
  return `${head}\n\n${table(['', 'Column', 'Check', 'Rows failed', 'Tolerance', 'Examples'], rows)}${file}`;
}

function driftSection(drift: Record<string, any>): string[] {
  const columns = [...(drift.columns as any[])].sort(
    (a, b) => Number(b.drifted) - Number(a.drifted) || (b.normalizedScore ?? 0) - (a.normalizedScore ?? 0),
  );
  const rows = columns.map((c) => [
    c.drifted ? '❌' : c.verdict === 'no_reference' ? '—' : '✅',
    code(c.column),
    c.kind,
    c.method,
    c.score,
    c.threshold,
    c.pValueAdjusted ?? c.pValue ?? null,
    c.reasons?.join('; ') ?? c.reason ?? '',
  ]);
  const head = `#### Drift: ${drift.drifted.length} of ${columns.length} columns drifted (share ${formatNumber(drift.drift_share)})`;
  const parts = [
    head,
    table(['', 'Column', 'Kind', 'Method', 'Score', 'Threshold', 'p (corrected)', 'Why'], rows),
  ];
  const charted = columns.filter((c) => c.histogram).slice(0, CHARTS);
  if (charted.length > 0)
    parts.push(
      details(
        `Distributions of the ${charted.length} most drifted columns`,
        charted.map(chart).join('\n\n'),
        true,
      ),
    );
  return parts;
}

/** Reference bars, data line, same bins. */
function chart(column: {
  column: string;
  histogram: { labels: string[]; reference: number[]; data: number[] };
}): string {
  const h = column.histogram;
  const share = (xs: number[]) => {
    const total = xs.reduce((a, b) => a + b, 0) || 1;
    return xs.map((x) => x / total);
  };
  return xyChart({
    title: `${column.column}: reference (bars) vs data (line)`,
    labels: h.labels.map((l) => l.slice(0, 14)),
    yAxis: 'share of rows',
    series: [
      { kind: 'bar', values: share(h.reference) },
      { kind: 'line', values: share(h.data) },
    ],
  });
}

function nullTable(fractions: Record<string, number>): string {
  return table(
    ['Column', 'Null fraction'],
    Object.entries(fractions).map(([c, f]) => [code(c), f]),
  );
}
