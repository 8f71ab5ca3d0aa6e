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
