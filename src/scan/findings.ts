export type Severity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'UNKNOWN';
export const SEVERITIES: readonly Severity[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];
export interface Finding {
  id: string;
  source: 'trivy' | 'grype' | 'model';
  severity: Severity;
  title: string;
  target: string;
  package?: string;
  installed?: string;
  fixed?: string;
  location?: string;
  url?: string;
}

/** How many findings there are of each severity, every severity present. */
export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const finding of findings) counts[finding.severity] += 1;
  return counts;
}
