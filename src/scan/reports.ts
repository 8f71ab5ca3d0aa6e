import { ConfigurationError } from '../errors.js';
import { type Finding, SEVERITIES, type Severity } from './findings.js';

export type Scanner = 'trivy' | 'grype';
export type ReportFormat = 'trivy-json' | 'grype-json' | 'sarif' | 'cyclonedx-json';

export interface ScannerReport {
  scanner: Scanner;
  format: ReportFormat;
  /** What was scanned: the image reference, or the directory or repository path. */
  artifact: string;
  /** One per vulnerability and package, in report order; the same id may appear for several packages. */
  findings: Finding[];
}

const ACCEPTED =
  'accepted formats: Trivy JSON (trivy --format json, SchemaVersion 2), Trivy or Grype SARIF 2.1.0 ' +
  '(--format sarif / -o sarif), CycloneDX JSON with vulnerabilities (trivy --format cyclonedx, ' +
  'grype -o cyclonedx-json), Grype JSON (grype -o json)';

// Titles feed one-line summaries and SARIF short descriptions; Grype has only long descriptions.
const TITLE_LENGTH = 200;

type Json = Record<string, any>;

/**
 * Reads a Trivy or Grype report, whichever of the accepted formats it is in, into findings. Only
 * vulnerabilities are read: Trivy's misconfigurations, secrets and licences are another kind of finding.
 * `where` names the file in errors.
 */
export function parseScannerReport(text: string, where: string): ScannerReport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigurationError(
      `not a scanner report: not valid JSON (${(e as Error).message}); ${ACCEPTED}`,
      where,
    );
  }
  if (isObject(doc)) {
    if ('SchemaVersion' in doc) return parseTrivyJson(doc, where);
    if (Array.isArray(doc.runs)) return parseSarif(doc, where);
    if (doc.bomFormat === 'CycloneDX') return parseCycloneDx(doc, where);
    if (Array.isArray(doc.matches)) return parseGrypeJson(doc, where);
  }
  throw new ConfigurationError(`not a scanner report this action can read; ${ACCEPTED}`, where);
}

// Grype writes capitalised names and adds Negligible, GHSA says Moderate, Red Hat Important, CycloneDX
// adds info and none.
// Negligible, info and none fold into LOW rather than UNKNOWN: they are rated, just rated below low, and a
// LOW cutoff should still catch them. Anything unrecognised is UNKNOWN, never silently LOW.
const SEVERITY_NAMES = new Map<string, Severity>([
  ['critical', 'CRITICAL'],
  ['high', 'HIGH'],
  ['important', 'HIGH'],
  ['medium', 'MEDIUM'],
  ['moderate', 'MEDIUM'],
  ['low', 'LOW'],
  ['negligible', 'LOW'],
  ['info', 'LOW'],
  ['none', 'LOW'],
  ['unknown', 'UNKNOWN'],
]);

/** A scanner's severity name as one of ours, case-insensitively; see SEVERITY_NAMES for the mapping. */
export function normalizeSeverity(name: unknown): Severity {
  return (typeof name === 'string' && SEVERITY_NAMES.get(name.trim().toLowerCase())) || 'UNKNOWN';
}

/** CVSS v3/v4 qualitative bands (FIRST's specification); 0.0 is "none", which folds into LOW as above. */
export function severityOfScore(score: unknown): Severity | undefined {
  const value = typeof score === 'string' ? Number(score) : score;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 10) return undefined;
  if (value >= 9) return 'CRITICAL';
  if (value >= 7) return 'HIGH';
  if (value >= 4) return 'MEDIUM';
  return 'LOW';
}

// --- Trivy JSON -------------------------------------------------------------------------------------

function parseTrivyJson(doc: Json, where: string): ScannerReport {
  if (doc.SchemaVersion !== 2) {
    throw new ConfigurationError(
      `Trivy JSON SchemaVersion ${JSON.stringify(doc.SchemaVersion)} is not supported; only SchemaVersion 2 ` +
        '(Trivy 0.20 and later) is',
      where,
    );
  }
  const findings: Finding[] = [];
  // A scan that found nothing to analyse (skipped files, unknown OS) has no Results at all.
  list(doc.Results, 'Results', where).forEach((result, r) => {
    const target = text(result.Target) ?? '';
    // A Result for a package set with no known vulnerabilities has no Vulnerabilities key.
    list(result.Vulnerabilities, `Results[${r}].Vulnerabilities`, where).forEach((v, i) => {
      const id = required(v.VulnerabilityID, `Results[${r}].Vulnerabilities[${i}].VulnerabilityID`, where);
      findings.push(
        finding({
          id,
          source: 'trivy',
          severity: normalizeSeverity(v.Severity),
          title: titleOf(v.Title ?? v.Description, id),
          target,
          package: text(v.PkgName),
          installed: text(v.InstalledVersion),
          fixed: text(v.FixedVersion),
          location: text(v.PkgPath),
          url: text(v.PrimaryURL) ?? firstText(v.References),
        }),
      );
    });
  });
  return { scanner: 'trivy', format: 'trivy-json', artifact: text(doc.ArtifactName) ?? '', findings };
}

// --- Grype JSON (the 0.6x schema and the current one with epss/risk/fix.state) --------------------

function parseGrypeJson(doc: Json, where: string): ScannerReport {
  const artifact = grypeTarget(doc.source);
  const findings = (doc.matches as unknown[]).map((match, i) => {
    if (!isObject(match) || !isObject(match.vulnerability))
      throw new ConfigurationError(`matches[${i}] has no vulnerability object`, where);
    const v = match.vulnerability;
    const id = required(v.id, `matches[${i}].vulnerability.id`, where);
    // The related records (usually NVD's view of the same CVE) only fill what the match itself lacks:
    // Grype's own severity comes from the most specific source, the distro or the language advisory.
    const related = list(match.relatedVulnerabilities, `matches[${i}].relatedVulnerabilities`, where);
    let severity = normalizeSeverity(v.severity);
    if (severity === 'UNKNOWN')
      severity = related.map((r) => normalizeSeverity(r.severity)).find((s) => s !== 'UNKNOWN') ?? severity;
    const pkg = isObject(match.artifact) ? match.artifact : {};
    return finding({
      id,
      source: 'grype',
      severity,
      title: titleOf(v.description ?? related.find((r) => text(r.description))?.description, id),
      target: artifact,
      package: text(pkg.name),
      installed: text(pkg.version),
      fixed: grypeFix(v.fix),
      location: Array.isArray(pkg.locations) ? text(pkg.locations[0]?.path) : undefined,
      url: httpUrl(v.dataSource) ?? firstText(v.urls) ?? firstText(related[0]?.urls),
    });
  });
  return { scanner: 'grype', format: 'grype-json', artifact, findings };
}

function grypeTarget(source: unknown): string {
  if (!isObject(source)) return '';
  const target = source.target;
  if (typeof target === 'string') return target;
  return isObject(target) ? (text(target.userInput) ?? text(target.path) ?? text(target.name) ?? '') : '';
}

/** Versions are listed only for a fix that exists; a `wont-fix` or `not-fixed` state means unfixed whatever follows. */
function grypeFix(fix: unknown): string | undefined {
  if (!isObject(fix) || fix.state === 'wont-fix' || fix.state === 'not-fixed') return undefined;
  const versions = Array.isArray(fix.versions) ? fix.versions.filter((v) => text(v)) : [];
  return versions.length > 0 ? versions.join(', ') : undefined;
}

// --- SARIF (Trivy's and Grype's) ------------------------------------------------------------------

function parseSarif(doc: Json, where: string): ScannerReport {
  if (doc.version !== '2.1.0')
    throw new ConfigurationError(`SARIF version ${JSON.stringify(doc.version)}; only 2.1.0 is read`, where);
  if (doc.runs.length === 0) throw new ConfigurationError('the SARIF log has no runs', where);
  const findings: Finding[] = [];
  let scanner: Scanner | undefined;
  let artifact: string | undefined;
  (doc.runs as unknown[]).forEach((run, n) => {
    if (!isObject(run)) throw new ConfigurationError(`runs[${n}] is not an object`, where);
    const driver = isObject(run.tool?.driver) ? run.tool.driver : {};
    const source = scannerNamed([text(driver.name) ?? '']);
    if (!source) {
      throw new ConfigurationError(
        `runs[${n}] is from ${JSON.stringify(driver.name ?? 'an unnamed tool')}; only Trivy and Grype SARIF is read`,
        where,
      );
    }
    scanner ??= source;
    const rules: Json[] = Array.isArray(driver.rules) ? driver.rules.filter(isObject) : [];
    const ruleById = new Map(rules.map((rule) => [rule.id, rule]));
    list(run.results, `runs[${n}].results`, where).forEach((result, i) => {
      const rule = ruleById.get(result.ruleId) ?? rules[result.ruleIndex] ?? {};
      const parsed = sarifFinding(result, rule, source, text(driver.informationUri));
      if (!parsed) throw new ConfigurationError(`runs[${n}].results[${i}] has no ruleId`, where);
      findings.push(parsed);
    });
    artifact ??= text(run.properties?.imageName) ?? grypeImage(run.results);
  });
  return { scanner: scanner!, format: 'sarif', artifact: artifact ?? '', findings };
}

/**
 * Both scanners write the package facts as `Label: value` lines: Trivy in the result message (per
 * package), Grype in the rule's help (its rules are per vulnerability and package). The result's lines
 * win because Trivy's rule help names just one of the packages the rule covers.
 */
function sarifFinding(result: Json, rule: Json, source: Scanner, toolUri?: string): Finding | undefined {
  const ruleId = text(result.ruleId) ?? text(rule.id);
  if (!ruleId) return undefined;
  const lines = [text(result.message?.text), text(rule.help?.text)].filter((t) => t !== undefined);
  const label = (...names: string[]) => {
    for (const body of lines) {
      for (const name of names) {
        const value = new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(body)?.[1].trim();
        if (value) return value;
      }
    }
    return undefined;
  };
  const id = lines.map((body) => /^\**Vulnerability (\S+?)\**$/m.exec(body)?.[1]).find(Boolean) ?? ruleId;
  const location = isObject(result.locations?.[0]) ? result.locations[0] : {};
  const link = /\((https?:\/\/[^)\s]+)\)/.exec(label('Link') ?? '')?.[1];
  const helpUri = httpUrl(rule.helpUri);
  return finding({
    id,
    source,
    severity: sarifSeverity(label('Severity'), rule, result.level),
    title: titleOf(rule.shortDescription?.text ?? result.message?.text, id),
    target: text(location.physicalLocation?.artifactLocation?.uri) ?? '',
    package: label('Package'),
    installed: label('Installed Version', 'Version'),
    // Grype's SARIF joins versions with bare commas, its JSON (and so our findings) with ", ".
    fixed: label('Fixed Version', 'Fix Version')
      ?.split(/\s*,\s*/)
      .join(', '),
    location: Array.isArray(location.logicalLocations) ? text(location.logicalLocations[0]?.name) : undefined,
    // Grype's helpUri is its own home page, which says nothing about the vulnerability.
    url: link ?? (helpUri !== toolUri ? helpUri : undefined),
  });
}

/**
 * The severity the scanner names wins; `security-severity` comes after because Grype fills it with the
 * CVSS score (8.2 for a vulnerability it rates low), and the level last because it folds two names
 * into each of error/warning/note.
 */
function sarifSeverity(named: string | undefined, rule: Json, level: unknown): Severity {
  if (named) return normalizeSeverity(named);
  const tags: unknown[] = Array.isArray(rule.properties?.tags) ? rule.properties.tags : [];
  const tagged = tags.map(normalizeSeverity).find((s) => s !== 'UNKNOWN');
  if (tagged) return tagged;
  const scored = severityOfScore(rule.properties?.['security-severity']);
  if (scored) return scored;
  const byLevel: Record<string, Severity> = { error: 'HIGH', warning: 'MEDIUM', note: 'LOW' };
  return (typeof level === 'string' && byLevel[level]) || 'UNKNOWN';
}

function grypeImage(results: unknown): string | undefined {
  if (!Array.isArray(results)) return undefined;
  for (const result of results) {
    const image = /found in image (\S+) at/.exec(text(result?.message?.text) ?? '')?.[1];
    if (image) return image;
  }
  return undefined;
}

// --- CycloneDX with vulnerabilities -----------------------------------------------------------------

function parseCycloneDx(doc: Json, where: string): ScannerReport {
  const scanner = scannerNamed(toolNames(doc.metadata?.tools));
  if (!scanner)
    throw new ConfigurationError(
      'the CycloneDX document was not written by Trivy or Grype (metadata.tools)',
      where,
    );
  if (!Array.isArray(doc.vulnerabilities)) {
    // An SBOM without the key may simply never have been scanned; passing it as "no findings" would pass the gate.
    throw new ConfigurationError(
      'the CycloneDX document has no vulnerabilities list: it is an SBOM, not a scan report; run the scanner ' +
        'with vulnerability scanning on (trivy --scanners vuln --format cyclonedx, grype -o cyclonedx-json)',
      where,
    );
  }
  const components = new Map<string, Json>();
  collectComponents(
    [doc.metadata?.component, ...(Array.isArray(doc.components) ? doc.components : [])],
    components,
  );
  const artifact = text(doc.metadata?.component?.name) ?? '';
  const findings: Finding[] = [];
  (doc.vulnerabilities as unknown[]).forEach((v, i) => {
    if (!isObject(v)) throw new ConfigurationError(`vulnerabilities[${i}] is not an object`, where);
    const id = required(v.id, `vulnerabilities[${i}].id`, where);
    const common = {
      id,
      source: scanner,
      severity: cycloneDxSeverity(v),
      title: titleOf(v.description ?? v.detail, id),
      target: artifact,
      // Trivy's only statement of the fix: "Upgrade <package> to version <version>".
      fixed: /\bto version ([^\s,;]+)/.exec(text(v.recommendation) ?? '')?.[1],
      url:
        firstText(Array.isArray(v.advisories) ? v.advisories.map((a) => a?.url) : []) ??
        httpUrl(v.source?.url),
    } as const;
    const affects = list(v.affects, `vulnerabilities[${i}].affects`, where);
    if (affects.length === 0) findings.push(finding(common));
    for (const affected of affects) {
      const component = components.get(affected.ref);
      const version = Array.isArray(affected.versions)
        ? affected.versions.find((r: Json) => r?.status !== 'unaffected')?.version
        : undefined;
      findings.push(
        finding({
          ...common,
          package: component ? packageName(component) : text(affected.ref),
          installed: text(component?.version) ?? text(version),
        }),
      );
    }
  });
  return { scanner, format: 'cyclonedx-json', artifact, findings };
}

const CVSS_METHODS = ['CVSSv4', 'CVSSv31', 'CVSSv3', 'CVSSv2'];

/**
 * A vulnerability carries one rating per source and CVSS version, and they disagree (CVE-2020-9548:
 * ghsa critical, nvd CVSSv2 medium, nvd CVSSv31 critical, redhat high). The first of these wins:
 * 1. the rating from the vulnerability's own `source`, the database the scanner matched it in; Trivy's
 *    and Grype's JSON severities are chosen the same way, so the formats agree;
 * 2. GitHub's advisory (`ghsa`), curated per package ecosystem;
 * 3. NVD, newest CVSS version first;
 * 4. the most severe of the rest.
 * A rating with a score but no severity name is banded by CVSS; none usable: UNKNOWN.
 */
function cycloneDxSeverity(v: Json): Severity {
  const rated = (Array.isArray(v.ratings) ? v.ratings.filter(isObject) : [])
    .map((r) => ({
      source: text(r.source?.name)?.toLowerCase(),
      method: CVSS_METHODS.indexOf(r.method),
      severity: ratingSeverity(r),
    }))
    .filter((r): r is typeof r & { severity: Severity } => r.severity !== undefined);
  const own = text(v.source?.name)?.toLowerCase();
  const nvd = rated
    .filter((r) => r.source === 'nvd')
    .sort((a, b) => (a.method < 0 ? 99 : a.method) - (b.method < 0 ? 99 : b.method));
  const chosen =
    rated.find((r) => own !== undefined && r.source === own) ??
    rated.find((r) => r.source === 'ghsa') ??
    nvd[0] ??
    rated.sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity))[0];
  return chosen?.severity ?? 'UNKNOWN';
}

function ratingSeverity(rating: Json): Severity | undefined {
  const named = normalizeSeverity(rating.severity);
  return named !== 'UNKNOWN' ? named : severityOfScore(rating.score);
}

/** CycloneDX 1.4 lists tools as an array; 1.5 and later as `{ components, services }`. */
function toolNames(tools: unknown): string[] {
  const entries = Array.isArray(tools)
    ? tools
    : isObject(tools)
      ? [
          ...(Array.isArray(tools.components) ? tools.components : []),
          ...(Array.isArray(tools.services) ? tools.services : []),
        ]
      : [];
  return entries.map((tool) => text(tool?.name) ?? '');
}

function collectComponents(list: unknown[], into: Map<string, Json>): void {
  for (const component of list) {
    if (!isObject(component)) continue;
    const ref = text(component['bom-ref']);
    if (ref) into.set(ref, component);
    if (Array.isArray(component.components)) collectComponents(component.components, into);
  }
}

/** Maven packages as `group:artifact`, the way Trivy's JSON names them, so ignore entries work across formats. */
function packageName(component: Json): string | undefined {
  const name = text(component.name);
  const group = text(component.group);
  if (!name || !group) return name;
  return text(component.purl)?.startsWith('pkg:maven/') ? `${group}:${name}` : `${group}/${name}`;
}

// --- small readers --------------------------------------------------------------------------------

function scannerNamed(names: string[]): Scanner | undefined {
  const lower = names.map((n) => n.toLowerCase());
  if (lower.some((n) => n.includes('trivy'))) return 'trivy';
  if (lower.some((n) => n.includes('grype'))) return 'grype';
  return undefined;
}

/** Drops absent optional fields, so findings compare and serialise without `undefined` keys. */
function finding(fields: Finding): Finding {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Finding;
}

function titleOf(value: unknown, fallback: string): string {
  const line = text(value)?.split('\n')[0].trim();
  if (!line) return fallback;
  return line.length <= TITLE_LENGTH ? line : `${line.slice(0, TITLE_LENGTH - 1).trimEnd()}…`;
}

function required(value: unknown, path: string, where: string): string {
  const found = text(value);
  if (!found) throw new ConfigurationError(`${path} is missing or empty`, where);
  return found;
}

/** An optional list: absent is empty, anything but a list of objects is the report's fault. */
function list(value: unknown, path: string, where: string): Json[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every(isObject))
    throw new ConfigurationError(`${path} must be a list of objects`, where);
  return value;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function firstText(values: unknown): string | undefined {
  return Array.isArray(values) ? values.map(text).find(Boolean) : undefined;
}

function httpUrl(value: unknown): string | undefined {
  const url = text(value);
  return url && /^https?:\/\//.test(url) ? url : undefined;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
