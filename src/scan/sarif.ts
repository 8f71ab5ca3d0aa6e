import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { countBySeverity, type Finding, SEVERITIES, type Severity } from './findings.js';

/**
 * What GitHub code scanning accepts (docs.github.com, "SARIF support for code scanning" and "SARIF results
 * exceed one or more limits"). It rejects a run with over 25,000 results or rules and a file over 10 MB
 * gzip-compressed; of the results it accepts it keeps only 5,000 per run, picking them itself. We keep to
 * 5,000 so that the pick is ours, most severe first, and is said in the run.
 */
export interface SarifLimits {
  results: number;
  rules: number;
  /** The serialised log (formatSarif), gzip-compressed as upload-sarif and the API send it. */
  gzipBytes: number;
}

export const GITHUB_SARIF_LIMITS: Readonly<SarifLimits> = {
  results: 5_000,
  rules: 25_000,
  gzipBytes: 10_000_000,
};

// Field lengths GitHub documents for reportingDescriptor.
const NAME_LENGTH = 255;
const DESCRIPTION_LENGTH = 1024;
// Rows of packages listed in one rule's help; a CVE in a base library can hit dozens of packages.
const HELP_ROWS = 25;

/**
 * GitHub reads `security-severity` as a score: over 9.0 critical, 7.0 to 8.9 high, 4.0 to 6.9 medium,
 * 0.1 to 3.9 low. Findings carry a name, not a score, so each name gets a number inside its band (the
 * numbers Trivy writes when it has no CVSS score). UNKNOWN gets none: 0.0 would read as "no security
 * severity" and any number would claim a rating the scanner did not give.
 */
export const SECURITY_SEVERITY: Readonly<Record<Severity, string | undefined>> = {
  CRITICAL: '9.5',
  HIGH: '8.0',
  MEDIUM: '5.5',
  LOW: '2.0',
  UNKNOWN: undefined,
};

/** SARIF result levels, as Trivy maps them: error gates a pull request check by default, note does not. */
export const SARIF_LEVEL: Readonly<Record<Severity, 'error' | 'warning' | 'note'>> = {
  CRITICAL: 'error',
  HIGH: 'error',
  MEDIUM: 'warning',
  LOW: 'note',
  UNKNOWN: 'note',
};

export interface SarifOptions {
  /**
   * The repository file every result points at, such as the Dockerfile: GitHub places alerts on
   * repository files, and paths inside an image are not in the repository. Default: the finding's
   * location, else its target.
   */
  locationUri?: string;
  /** Analysis category (runAutomationDetails.id), to upload several scans for one commit. */
  category?: string;
  /** Lower limits, for tests or for leaving room next to other runs. */
  limits?: Partial<SarifLimits>;
}

export interface SarifTruncation {
  reasons: ('results' | 'rules' | 'size')[];
  total: number;
  kept: number;
  /** Findings left out, by severity: the least severe go first. */
  dropped: Record<Severity, number>;
  limits: SarifLimits;
}

export interface SarifOutput {
  log: SarifLog;
  /** Undefined when every finding is in the log. */
  truncated?: SarifTruncation;
}

export interface SarifLog {
  $schema: string;
  version: '2.1.0';
  runs: SarifRun[];
}

export interface SarifRun {
  tool: { driver: { name: string; version: string; informationUri?: string; rules: SarifRule[] } };
  automationDetails?: { id: string };
  results: SarifResult[];
  properties?: { truncation: SarifTruncation };
}

export interface SarifRule {
  id: string;
  name: string;
  shortDescription: { text: string };
  fullDescription: { text: string };
  defaultConfiguration: { level: 'error' | 'warning' | 'note' };
  helpUri?: string;
  help: { text: string; markdown: string };
  properties: { tags: string[]; 'security-severity'?: string };
}

export interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: 'error' | 'warning' | 'note';
  message: { text: string };
  locations: {
    physicalLocation: {
      artifactLocation: { uri: string };
      region: { startLine: number; startColumn: number; endLine: number; endColumn: number };
    };
    message: { text: string };
  }[];
  partialFingerprints: { primaryLocationLineHash: string };
}

/**
 * Writes findings as a SARIF 2.1.0 log GitHub code scanning accepts: one run, one rule per vulnerability
 * id, one result per finding, most severe first. Over a limit, the least severe findings are left out
 * and the run's `properties.truncation` says how many of each.
 */
export function toSarif(
  findings: readonly Finding[],
  tool: { name: string; version: string; informationUri?: string },
  options: SarifOptions = {},
): SarifOutput {
  const limits: SarifLimits = { ...GITHUB_SARIF_LIMITS, ...options.limits };
  const sorted = [...findings].sort((a, b) => rank(a.severity) - rank(b.severity));
  const { kept, reasons } = withinCounts(sorted, limits);
  const build = (count: number) => {
    const chosen = kept.slice(0, count);
    const why = count < kept.length ? [...reasons, 'size' as const] : reasons;
    const truncated = why.length > 0 ? truncation(sorted, chosen, why, limits) : undefined;
    return { log: buildLog(chosen, tool, options, truncated), truncated };
  };
  let output = build(kept.length);
  if (gzippedSize(output.log) > limits.gzipBytes) {
    // The largest prefix that fits; size grows with the count, so a binary search finds it.
    let low = 0;
    let high = kept.length - 1;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (gzippedSize(build(mid).log) <= limits.gzipBytes) low = mid;
      else high = mid - 1;
    }
    output = build(low);
  }
  return output.truncated ? output : { log: output.log };
}

/** The log as it should be written: what the size limit was measured on. */
export function formatSarif(log: SarifLog): string {
  return JSON.stringify(log);
}

function gzippedSize(log: SarifLog): number {
  return gzipSync(formatSarif(log)).length;
}

/** Most severe first; a finding whose rule would exceed the rule limit is skipped, not the rest. */
function withinCounts(sorted: readonly Finding[], limits: SarifLimits) {
  const kept: Finding[] = [];
  const rules = new Set<string>();
  const reasons = new Set<'results' | 'rules'>();
  for (const finding of sorted) {
    if (kept.length >= limits.results) {
      reasons.add('results');
      break;
    }
    if (!rules.has(finding.id) && rules.size >= limits.rules) {
      reasons.add('rules');
      continue;
    }
    rules.add(finding.id);
    kept.push(finding);
  }
  return { kept, reasons: [...reasons] };
}

function truncation(
  all: readonly Finding[],
  kept: readonly Finding[],
  reasons: SarifTruncation['reasons'],
  limits: SarifLimits,
): SarifTruncation {
  const dropped = countBySeverity(all);
  for (const finding of kept) dropped[finding.severity] -= 1;
  return { reasons, total: all.length, kept: kept.length, dropped, limits };
}

function buildLog(
  findings: readonly Finding[],
  tool: { name: string; version: string; informationUri?: string },
  options: SarifOptions,
  truncated: SarifTruncation | undefined,
): SarifLog {
  const byId = new Map<string, Finding[]>();
  for (const finding of findings) byId.set(finding.id, [...(byId.get(finding.id) ?? []), finding]);
  const ids = [...byId.keys()];
  const ruleIndex = new Map(ids.map((id, i) => [id, i]));
  const run: SarifRun = {
    tool: {
      driver: {
        name: tool.name,
        version: tool.version,
        ...(tool.informationUri ? { informationUri: tool.informationUri } : {}),
        rules: ids.map((id) => rule(id, byId.get(id)!)),
      },
    },
    results: findings.map((finding) => result(finding, ruleIndex.get(finding.id)!, options.locationUri)),
  };
  if (options.category) run.automationDetails = { id: `${options.category.replace(/\/+$/, '')}/` };
  if (truncated) run.properties = { truncation: truncated };
  return { $schema: 'https://json.schemastore.org/sarif-2.1.0.json', version: '2.1.0', runs: [run] };
}

/** A rule's severity is its most severe finding's: the same CVE can be rated differently per package. */
function rule(id: string, findings: readonly Finding[]): SarifRule {
  const severity = findings.map((f) => f.severity).sort((a, b) => rank(a) - rank(b))[0];
  const first = findings[0];
  const url = findings.find((f) => f.url && /^https?:\/\//.test(f.url))?.url;
  const securitySeverity = SECURITY_SEVERITY[severity];
  return {
    id,
    name: clip(id, NAME_LENGTH),
    shortDescription: { text: clip(first.title || id, DESCRIPTION_LENGTH) },
    fullDescription: { text: clip(`${id} (${severity}): ${first.title || id}`, DESCRIPTION_LENGTH) },
    defaultConfiguration: { level: SARIF_LEVEL[severity] },
    ...(url ? { helpUri: url } : {}),
    help: help(id, severity, findings, url),
    properties: {
      // GitHub shows 10 tags per rule; these are 4.
      tags: ['security', 'vulnerability', severity, first.source],
      ...(securitySeverity ? { 'security-severity': securitySeverity } : {}),
    },
  };
}

function help(id: string, severity: Severity, findings: readonly Finding[], url?: string) {
  const shown = findings.slice(0, HELP_ROWS);
  const more = findings.length - shown.length;
  const rows = shown.map((f) =>
    [f.package ?? '', f.installed ?? '', f.fixed ?? 'no fix yet', f.target].map(cell).join(' | '),
  );
  const markdown = [
    `**${id}** (${severity})`,
    '',
    shown[0].title,
    '',
    '| Package | Installed | Fixed | Target |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row} |`),
    ...(more > 0 ? ['', `…and ${more} more.`] : []),
    ...(url ? ['', `[${id}](${url})`] : []),
  ].join('\n');
  const text = [
    `${id} (${severity}): ${shown[0].title}`,
    ...shown.map(
      (f) =>
        `Package: ${f.package ?? '-'}  Installed: ${f.installed ?? '-'}  Fixed: ${f.fixed ?? 'no fix yet'}`,
    ),
    ...(more > 0 ? [`…and ${more} more.`] : []),
    ...(url ? [url] : []),
  ].join('\n');
  return { text, markdown };
}

function result(finding: Finding, ruleIndex: number, locationUri?: string): SarifResult {
  const what = finding.package
    ? `${finding.id} (${finding.severity}) in ${finding.package}${finding.installed ? ` ${finding.installed}` : ''}`
    : `${finding.id} (${finding.severity})`;
  const fix = finding.package
    ? finding.fixed
      ? `; fixed in ${finding.fixed}`
      : '; no fixed version yet'
    : '';
  // Absolute paths inside an image would be turned relative against the checkout; make that explicit.
  const uri = (locationUri ?? finding.location ?? finding.target).replace(/^\/+/, '') || finding.source;
  return {
    ruleId: finding.id,
    ruleIndex,
    level: SARIF_LEVEL[finding.severity],
    message: { text: `${what}${fix}. ${finding.title}` },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri },
          region: { startLine: 1, startColumn: 1, endLine: 1, endColumn: 1 },
        },
        message: {
          text: `${finding.target}${finding.package ? `: ${finding.package}@${finding.installed ?? ''}` : ''}`,
        },
      },
    ],
    // Not a line hash: the file is not where the problem is. The identity of the finding is stable
    // across runs, so the alert is too, which upload-sarif could not compute from a file outside the repo.
    partialFingerprints: { primaryLocationLineHash: `${fingerprint(finding)}:1` },
  };
}

function fingerprint(finding: Finding): string {
  const identity = [finding.id, finding.package, finding.installed, finding.target, finding.location];
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 32);
}

function rank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

function clip(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}
