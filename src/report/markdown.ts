import type { GateResult, Report } from './types.js';

/** Markdown that a cell must show as written (status icons, code spans): everything else is escaped. */
export interface RawMarkdown {
  readonly markdown: string;
}

export type Cell = string | number | null | undefined | RawMarkdown;
export type Align = 'left' | 'right' | 'center';

/** GitHub rejects comment bodies longer than this many characters. */
export const GITHUB_COMMENT_LIMIT = 65536;

export const TRUNCATION_NOTE =
  "> [!NOTE]\n> This comment was cut to fit GitHub's 65,536-character limit. The full report is in the job " +
  'summary and in the JSON report uploaded as an artifact.';

const MISSING = '—';

export function raw(markdown: string): RawMarkdown {
  return { markdown };
}

/** An inline code span for a table cell that survives any content: backticks, pipes and newlines. */
export function code(text: string): RawMarkdown {
  const flat = text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
  const longestRun = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return raw(`${fence}${pad}${flat}${pad}${fence}`);
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Plain text made safe for one table cell: HTML escaped, pipes escaped, line breaks kept as <br>. */
export function escapeCell(text: string): string {
  return escapeHtml(text).replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

function renderCell(cell: Cell): string {
  if (cell === null || cell === undefined) return MISSING;
  if (typeof cell === 'number') return formatNumber(cell);
  if (typeof cell === 'string') return escapeCell(cell);
  return cell.markdown;
}

const SEPARATOR: Record<Align, string> = { left: ':---', right: '---:', center: ':---:' };

export function table(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  align?: readonly Align[],
): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const separators = headers.map((_, i) => (align?.[i] ? SEPARATOR[align[i]] : '---'));
  const body = rows.map((row) => line(headers.map((_, i) => renderCell(row[i]))));
  return [line(headers.map(escapeCell)), line(separators), ...body].join('\n');
}

/**
 * Metrics to 4 decimals (tiny values to 4 significant digits, so 0.00012 does not read as 0), integers with
 * thousands separators, null/undefined as a dash. Never throws on NaN or infinities: they are shown as such.
 */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined) return MISSING;
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (Number.isInteger(x)) return groupThousands(Math.abs(x).toFixed(0), x < 0);
  const magnitude = Math.abs(x);
  if (magnitude < 1e-3) return magnitude < 1e-6 ? x.toExponential(3) : String(Number(x.toPrecision(4)));
  const [whole, fraction] = magnitude.toFixed(4).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  const grouped = groupThousands(whole, x < 0);
  return trimmed === '' ? grouped : `${grouped}.${trimmed}`;
}

function groupThousands(digits: string, negative: boolean): string {
  return `${negative ? '-' : ''}${digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`;
}

export function statusIcon(passed: boolean): string {
  return passed ? '✅' : '❌';
}

/** A folded section; the blank lines let GitHub render markdown inside it. */
export function details(summary: string, body: string, open = false): string {
  return `<details${open ? ' open' : ''}>\n<summary>${escapeHtml(summary)}</summary>\n\n${body}\n\n</details>`;
}

/** Every gate result, failed ones first (in their original order), so the reason a run failed is on top. */
export function gateTable(gates: readonly GateResult[]): string {
  if (gates.length === 0) return '_No gates were configured._';
  const ordered = [...gates.filter((g) => !g.passed), ...gates.filter((g) => g.passed)];
  const rows = ordered.map((g) => [
    raw(statusIcon(g.passed)),
    code(g.expression),
    g.scope,
    g.actual,
    g.threshold,
    g.reason ?? '',
  ]);
  return table(['', 'Gate', 'Scope', 'Actual', 'Threshold', 'Reason'], rows, [
    'center',
    'left',
    'left',
    'right',
    'right',
    'left',
  ]);
}

/** Metrics in the order the command gave them; with a baseline, its value and the change. */
export function metricsTable(
  metrics: Record<string, number | null>,
  baseline?: Record<string, number | null>,
): string {
  const names = Object.keys(metrics);
  if (names.length === 0) return '_No metrics._';
  if (!baseline)
    return table(
      ['Metric', 'Value'],
      names.map((name) => [code(name), metrics[name]]),
      ['left', 'right'],
    );
  const rows = names.map((name) => [
    code(name),
    metrics[name],
    baseline[name],
    delta(metrics[name], baseline[name]),
  ]);
  return table(['Metric', 'Value', 'Baseline', 'Δ'], rows, ['left', 'right', 'right', 'right']);
}

function delta(value: number | null | undefined, base: number | null | undefined): string | null {
  if (value == null || base == null || !Number.isFinite(value) || !Number.isFinite(base)) return null;
  const change = value - base;
  return change > 0 ? `+${formatNumber(change)}` : formatNumber(change);
}

/** One line: icon, title, verdict and how many gates passed or failed. */
export function renderHeader(report: Pick<Report, 'passed' | 'gates'>, title: string): string {
  const total = report.gates.length;
  const failed = report.gates.filter((g) => !g.passed).length;
  const count =
    total === 0
      ? 'no gates configured'
      : failed > 0
        ? `${failed} of ${total} gate${total === 1 ? '' : 's'} failed`
        : `${total} of ${total} gate${total === 1 ? '' : 's'} passed`;
  return `### ${statusIcon(report.passed)} ${escapeHtml(title)}: ${report.passed ? 'passed' : 'failed'} (${count})`;
}

/**
 * Fits markdown into a PR comment. Cuts before the last heading or top-level <details> block that fits,
 * never inside a code fence or an open <details>, and appends `note` (which should point to the full report).
 */
export function truncateForComment(
  markdown: string,
  limit = GITHUB_COMMENT_LIMIT,
  note = TRUNCATION_NOTE,
): string {
  if (markdown.length <= limit) return markdown;
  const suffix = `\n\n${note}`;
  const budget = limit - suffix.length;
  if (budget <= 0) return note.slice(0, limit);
  const cut = lastBoundaryWithin(markdown, budget);
  return `${markdown.slice(0, cut).trimEnd()}${suffix}`;
}

/**
 * The largest offset <= budget where a new section starts at the top level. Falls back to the last blank line
 * at the top level, then to the last line break: a document with no structure is still cut on a line.
 */
function lastBoundaryWithin(markdown: string, budget: number): number {
  let section = 0;
  let paragraph = 0;
  let depth = 0;
  let fenced = false;
  let offset = 0;
  for (const line of markdown.split('\n')) {
    if (offset > budget) break;
    const trimmed = line.trim();
    const topLevel = depth === 0 && !fenced;
    if (topLevel && offset > 0 && (/^#{1,6}\s/.test(trimmed) || /^<details[\s>]/i.test(trimmed)))
      section = offset;
    if (topLevel && trimmed === '' && offset > 0) paragraph = offset;
    if (/^(```|~~~)/.test(trimmed)) fenced = !fenced;
    if (!fenced) {
      depth += (trimmed.match(/<details[\s>]/gi) ?? []).length;
      depth = Math.max(0, depth - (trimmed.match(/<\/details>/gi) ?? []).length);
    }
    offset += line.length + 1;
  }
  // A section boundary wins unless it would throw away more than half of what fits.
  if (section >= budget / 2) return section;
  if (section > 0 || paragraph > 0) return Math.max(section, paragraph);
  return Math.max(0, markdown.lastIndexOf('\n', budget));
}

/**
 * A mermaid xychart (GitHub renders it). It has no legend, so the title must say which series is which.
 * Values are rounded to 4 decimals to keep the source short.
 */
export function xyChart(options: {
  title: string;
  labels: string[];
  yAxis: string;
  series: { kind: 'bar' | 'line'; values: number[] }[];
}): string {
  const quote = (text: string) => `"${text.replaceAll('"', "'")}"`;
  const round = (xs: number[]) => xs.map((x) => (Number.isFinite(x) ? Number(x.toFixed(4)) : 0)).join(', ');
  return [
    '```mermaid',
    'xychart-beta',
    `  title ${quote(options.title)}`,
    `  x-axis [${options.labels.map(quote).join(', ')}]`,
    `  y-axis ${quote(options.yAxis)}`,
    ...options.series.map((s) => `  ${s.kind} [${round(s.values)}]`),
    '```',
  ].join('\n');
}
