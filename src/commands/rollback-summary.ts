import { code, table } from '../report/markdown.js';
import type { Report } from '../report/types.js';

/** The job summary of rollback: what was rolled back, from what to what, before and after, and why. */
export function renderRollback(report: Report): string {
  const d = report.details as Record<string, any>;
  const icon = d.dryRun ? '🧪' : d.alreadyRolledBack ? '✅' : '↩️';
  const parts = [
    `### ${icon} mlgate rollback (${d.target}): ${d.state}`,
    `**From** ${code(d.from).markdown} **to** ${code(d.to).markdown}`,
    `**Why**: ${d.reason || '(no reason given)'}${d.runUrl ? ` · [run](${d.runUrl})` : ''}`,
  ];
  const keys = [...new Set([...Object.keys(d.before ?? {}), ...Object.keys(d.after ?? {})])];
  if (keys.length > 0)
    parts.push(
      table(
        ['', 'Before', 'After'],
        keys.map((k) => [k, d.before?.[k] ?? '', d.after?.[k] ?? '']),
      ),
    );
  if (d.steps?.length > 0)
    parts.push(
      [
        `#### ${d.dryRun ? 'Would run' : 'Steps'}`,
        ...d.steps.map((s: string, i: number) => `${i + 1}. ${code(s).markdown}`),
      ].join('\n'),
    );
  return parts.join('\n\n');
}
