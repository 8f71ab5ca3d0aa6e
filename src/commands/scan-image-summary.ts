import { code, details, formatNumber, gateTable, renderHeader, table } from '../report/markdown.js';
import type { Report } from '../report/types.js';
import { type Finding, SEVERITIES, type Severity } from '../scan/findings.js';
import type { IgnoredFinding } from '../scan/policy.js';

// The summary shows this many findings; the JSON report and the SARIF log hold them all.
const TOP = 25;

const ICON: Record<Severity, string> = { CRITICAL: '🟥', HIGH: '🟧', MEDIUM: '🟨', LOW: '🟦', UNKNOWN: '⬜' };

const findingRow = (f: Finding) => [
  `${ICON[f.severity]} ${f.severity}`,
  f.url ? `[${f.id}](${f.url})` : code(f.id),
  f.source === 'model' ? code(f.target) : (f.package ?? ''),
  f.installed ?? '',
  f.fixed ?? '',
  f.source === 'model' && f.location ? `${f.title} (${f.location})` : f.title,
];

/** The job summary of scan-image: counts by severity, the gates, the top findings and what was set aside. */
export function renderScanImage(report: Report): string {
  const d = report.details as Record<string, any>;
  const parts = [renderHeader(report, 'mlgate scan-image')];
  const what = [
    d.artifact ? `**Image** ${code(d.artifact).markdown}` : '',
    d.modelFiles.length ? `**Model files** ${d.modelFiles.length}` : '',
    d.scanner
      ? `**Scanner** ${d.scanner.name} ${d.scanner.version} (${d.scanner.source}${d.scanner.sha256 ? `, sha256 ${d.scanner.sha256.slice(0, 12)}…${d.scanner.pinned ? ' pinned' : ''}` : ''})`
      : d.scannerReport
        ? `**Scanner report** ${code(d.scannerReport).markdown}`
        : '',
    d.database?.builtAt
      ? `**Database** built ${d.database.builtAt.slice(0, 16).replace('T', ' ')} UTC (${formatNumber(d.database.ageHours)} h old${d.database.stale ? ', stale' : ''}), from ${d.database.source}, cache: ${d.database.cache}`
      : '',
  ].filter(Boolean);
  parts.push(what.join(' · '));
  for (const w of report.warnings) parts.push(`> [!WARNING]\n> ${w}`);
  const counts = d.counts as Record<'image' | 'model' | 'afterPolicy', Record<Severity, number>>;
  parts.push(
    table(
      ['', ...SEVERITIES.map((s) => `${ICON[s]} ${s}`)],
      [
        ['Image', ...SEVERITIES.map((s) => counts.image[s])],
        ['Model files', ...SEVERITIES.map((s) => counts.model[s])],
        ['**After policy**', ...SEVERITIES.map((s) => counts.afterPolicy[s])],
      ],
      ['left', ...SEVERITIES.map(() => 'right' as const)],
    ),
  );
  parts.push(gateTable(report.gates));
  const failing = d.failing as Finding[];
  const others = (d.reported as Finding[]).filter((f) => !failing.includes(f));
  const shown = [...failing, ...others].slice(0, TOP);
  if (shown.length > 0) {
    const total = failing.length + others.length;
    parts.push(
      `#### Findings${total > TOP ? ` (the top ${TOP} of ${total}; all are in the JSON report)` : ''}`,
      table(['Severity', 'ID', 'Package / file', 'Installed', 'Fixed', 'Title'], shown.map(findingRow)),
    );
  }
  const ignored = d.ignored as IgnoredFinding[];
  if (ignored.length > 0)
    parts.push(
      details(
        `Set aside by policy: ${ignored.length}`,
        table(
          ['Severity', 'ID', 'Package / file', 'By', 'Reason'],
          ignored.map((i) => [
            i.finding.severity,
            code(i.finding.id),
            i.finding.package ?? i.finding.target,
            i.by,
            i.reason,
          ]),
        ),
      ),
    );
  if (d.sarif) parts.push(`SARIF: ${code(d.sarif.path).markdown} (${d.sarif.results} results)`);
  return parts.join('\n\n');
}
