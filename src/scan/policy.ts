import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { ConfigurationError } from '../errors.js';
import { countBySeverity, type Finding, SEVERITIES, type Severity } from './findings.js';

/** An accepted risk from the ignore file: it applies through the end of its `expires` day (UTC). */
export interface IgnoreEntry {
  id: string;
  reason: string;
  /** YYYY-MM-DD. */
  expires: string;
  /** When set, only this package (as the scanner names it) is ignored. */
  package?: string;
  /** When set, only this target (image layer set, lock file) is ignored. */
  target?: string;
  /** `file:line`, so a report can point back at the entry. */
  where: string;
}

export type VexStatus = 'not_affected' | 'affected' | 'fixed' | 'under_investigation';

export interface VexStatement {
  /** The vulnerability's name and its aliases. */
  ids: string[];
  /** Product and subcomponent purls; empty: every product in the scan. */
  products: VexProduct[];
  status: VexStatus;
  /** The justification or impact statement, shown as the reason a finding was suppressed. */
  reason: string;
  /** Statement or document timestamp; the latest matching statement decides. */
  timestamp?: string;
  /** `file: statements[i]`. */
  where: string;
}

export interface VexProduct {
  purl: Purl;
  subcomponents: Purl[];
}

export interface Purl {
  type: string;
  namespace?: string;
  name: string;
  version?: string;
  qualifiers: Record<string, string>;
}

export interface ScanPolicy {
  /** Findings at or above this severity fail the gate (UNKNOWN ranks below LOW). */
  severityCutoff: Severity;
  /** Severities listed in the report. Failing findings are always listed, whatever this says. */
  reportSeverities: readonly Severity[];
  /** Findings with no fixed version are suppressed. */
  ignoreUnfixed: boolean;
  ignores: readonly IgnoreEntry[];
  vex: readonly VexStatement[];
  /** Findings of an earlier scan: when given, only findings absent from it can fail. */
  baseline?: readonly Finding[];
}

export type IgnoredBy = 'ignore-file' | 'vex' | 'unfixed' | 'baseline';

export interface IgnoredFinding {
  finding: Finding;
  by: IgnoredBy;
  reason: string;
}

export interface ExpiredIgnore {
  entry: IgnoreEntry;
  /** The findings it would have matched, which now count again. */
  findings: Finding[];
}

export interface PolicyOutcome {
  reported: Finding[];
  failing: Finding[];
  /**
   * Suppressed findings (VEX, ignore file, unfixed: neither reported nor failing nor counted) and baseline
   * findings that would otherwise fail (still reported and counted: they are still in the image).
   */
  ignored: IgnoredFinding[];
  expiredIgnores: ExpiredIgnore[];
  /** Findings by severity after suppression, whether or not their severity is reported. */
  counts: Record<Severity, number>;
}

/**
 * Applies the policy. A finding is suppressed by the first of: a VEX statement (the supplier's word that
 * the product is not affected), an ignore entry (our accepted risk), ignore-unfixed. What is left is
 * counted; it fails when at or above the cutoff, unless the baseline already had it.
 */
export function applyPolicy(findings: readonly Finding[], policy: ScanPolicy, today: Date): PolicyOutcome {
  const day = today.toISOString().slice(0, 10);
  const active = policy.ignores.filter((entry) => entry.expires >= day);
  const expiredIgnores = policy.ignores
    .filter((entry) => entry.expires < day)
    .map((entry) => ({ entry, findings: [] as Finding[] }));
  const known = policy.baseline ? new Set(policy.baseline.map(baselineKey)) : undefined;
  const reportable = new Set(policy.reportSeverities);
  const outcome: PolicyOutcome = {
    reported: [],
    failing: [],
    ignored: [],
    expiredIgnores,
    counts: countBySeverity([]),
  };
  for (const finding of findings) {
    for (const expired of expiredIgnores)
      if (ignoreMatches(expired.entry, finding)) expired.findings.push(finding);
    const suppressed = suppression(finding, policy, active);
    if (suppressed) {
      outcome.ignored.push(suppressed);
      continue;
    }
    outcome.counts[finding.severity] += 1;
    let fails = atOrAbove(finding.severity, policy.severityCutoff);
    if (fails && known?.has(baselineKey(finding))) {
      outcome.ignored.push({ finding, by: 'baseline', reason: 'already in the baseline report' });
      fails = false;
    }
    if (fails) outcome.failing.push(finding);
    if (fails || reportable.has(finding.severity)) outcome.reported.push(finding);
  }
  return outcome;
}

function suppression(
  finding: Finding,
  policy: ScanPolicy,
  ignores: readonly IgnoreEntry[],
): IgnoredFinding | undefined {
  const vex = vexStatementFor(finding, policy.vex);
  if (vex && (vex.status === 'not_affected' || vex.status === 'fixed'))
    return { finding, by: 'vex', reason: `VEX ${vex.status}: ${vex.reason} (${vex.where})` };
  const entry = ignores.find((e) => ignoreMatches(e, finding));
  if (entry)
    return { finding, by: 'ignore-file', reason: `${entry.reason} (until ${entry.expires}, ${entry.where})` };
  if (policy.ignoreUnfixed && !finding.fixed)
    return { finding, by: 'unfixed', reason: 'no fixed version yet' };
  return undefined;
}

/** True when `severity` is `cutoff` or more severe. */
export function atOrAbove(severity: Severity, cutoff: Severity): boolean {
  return SEVERITIES.indexOf(severity) <= SEVERITIES.indexOf(cutoff);
}

/** What makes a finding "the same" across scans: not the target, whose name changes with the image tag. */
export function baselineKey(finding: Finding): string {
  return JSON.stringify([finding.id, finding.package ?? '', finding.installed ?? '']);
}

function ignoreMatches(entry: IgnoreEntry, finding: Finding): boolean {
  return (
    sameId(entry.id, finding.id) &&
    (entry.package === undefined || entry.package === finding.package) &&
    (entry.target === undefined || entry.target === finding.target)
  );
}

function sameId(a: string, b: string): boolean {
  return a.toUpperCase() === b.toUpperCase();
}

// --- severities as inputs -----------------------------------------------------------------------

/** One severity name, any case: `high` -> HIGH. */
export function parseSeverity(value: string, where: string): Severity {
  const name = value.trim().toUpperCase();
  if (!(SEVERITIES as readonly string[]).includes(name))
    throw new ConfigurationError(
      `unknown severity "${value.trim()}"; use one of ${SEVERITIES.join(', ')}`,
      where,
    );
  return name as Severity;
}

/** A comma, space or newline separated list of severity names. */
export function parseSeverityList(value: string, where: string): Severity[] {
  const names = value.split(/[\s,]+/).filter((name) => name !== '');
  if (names.length === 0)
    throw new ConfigurationError(`no severities given; use some of ${SEVERITIES.join(', ')}`, where);
  return [...new Set(names.map((name) => parseSeverity(name, where)))];
}

// --- the ignore file ----------------------------------------------------------------------------

const IGNORE_KEYS = ['id', 'reason', 'expires', 'package', 'target'];

/**
 * Reads the ignore file: a YAML list of entries, or a mapping with an `ignores:` list. Every entry needs a
 * reason and an expiry date, so accepted risks are explained and come back for review.
 */
export function parseIgnoreFile(text: string, where: string): IgnoreEntry[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    const line = error.linePos?.[0].line;
    const message = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigurationError(`not valid YAML: ${message}`, line ? `${where}:${line}` : where);
  }
  let list: unknown = doc.contents;
  if (isMap(list)) {
    if (!list.has('ignores'))
      throw new ConfigurationError('a mapping must hold the entries under an `ignores:` key', where);
    list = list.get('ignores', true);
  }
  // An empty file, or `ignores:` with nothing under it, ignores nothing.
  if (list === null || list === undefined || (isScalar(list) && list.value === null)) return [];
  if (!isSeq(list))
    throw new ConfigurationError(
      'must be a list of ignore entries, or a mapping with an `ignores:` list',
      where,
    );
  const values = list.toJSON() as unknown[];
  return list.items.map((node, i) => {
    const offset = (node as { range?: [number, number, number] } | null)?.range?.[0];
    const at = offset === undefined ? where : `${where}:${lines.linePos(offset).line}`;
    return readIgnoreEntry(values[i], `ignores[${i}]`, at);
  });
}

function readIgnoreEntry(value: unknown, path: string, where: string): IgnoreEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigurationError(`${path} must be a mapping with id, reason and expires`, where);
  const entry = value as Record<string, unknown>;
  const unknown = Object.keys(entry).filter((key) => !IGNORE_KEYS.includes(key));
  if (unknown.length > 0)
    throw new ConfigurationError(
      `${path}: unknown key "${unknown[0]}"; the keys are ${IGNORE_KEYS.join(', ')}`,
      where,
    );
  const field = (key: string, why: string) => {
    const found = entry[key];
    if (typeof found !== 'string' || found.trim() === '')
      throw new ConfigurationError(`${path}: \`${key}\` is required (${why})`, where);
    return found.trim();
  };
  const optional = (key: string) => (entry[key] === undefined ? undefined : field(key, 'a non-empty string'));
  const id = field('id', 'the vulnerability id, as the scanner reports it');
  const reason = field('reason', 'why the risk is accepted');
  const expires = field('expires', 'the date, YYYY-MM-DD, when the entry stops applying');
  if (!isCalendarDate(expires))
    throw new ConfigurationError(`${path}: expires "${expires}" is not a date written YYYY-MM-DD`, where);
  const parsed: IgnoreEntry = { id, reason, expires, where };
  const pkg = optional('package');
  const target = optional('target');
  if (pkg !== undefined) parsed.package = pkg;
  if (target !== undefined) parsed.target = target;
  return parsed;
}

function isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

// --- OpenVEX --------------------------------------------------------------------------------------

const VEX_STATUSES: readonly VexStatus[] = ['not_affected', 'affected', 'fixed', 'under_investigation'];

/** Reads an OpenVEX JSON document (v0.0.1 and v0.2.0 shapes) into statements. */
export function parseOpenVex(text: string, where: string): VexStatement[] {
  let doc: any;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigurationError(`not valid JSON: ${(e as Error).message}`, where);
  }
  const context = doc?.['@context'];
  if (typeof context !== 'string' || !context.includes('openvex') || !Array.isArray(doc.statements)) {
    throw new ConfigurationError(
      'not an OpenVEX document (an @context of https://openvex.dev/ns/... and a statements list)',
      where,
    );
  }
  return doc.statements.map((statement: any, i: number) =>
    readVexStatement(statement, `${where}: statements[${i}]`, doc.timestamp),
  );
}

function readVexStatement(statement: any, where: string, documentTime: unknown): VexStatement {
  const vulnerability = statement?.vulnerability;
  // v0.0.1 names the vulnerability with a string; v0.2.0 with { name, aliases }.
  const ids = (
    typeof vulnerability === 'string'
      ? [vulnerability]
      : [vulnerability?.name, ...(Array.isArray(vulnerability?.aliases) ? vulnerability.aliases : [])]
  ).filter((id): id is string => typeof id === 'string' && id !== '');
  if (ids.length === 0) throw new ConfigurationError('the statement names no vulnerability', where);
  const status = statement.status;
  if (!VEX_STATUSES.includes(status))
    throw new ConfigurationError(
      `status ${JSON.stringify(status)} is not one of ${VEX_STATUSES.join(', ')}`,
      where,
    );
  const reason = [statement.justification, statement.impact_statement, statement.status_notes].find(
    (r): r is string => typeof r === 'string' && r !== '',
  );
  // OpenVEX requires one of the two for not_affected, and a suppression nobody explained is no policy.
  if (status === 'not_affected' && reason === undefined)
    throw new ConfigurationError(
      'a not_affected statement needs a justification or an impact_statement',
      where,
    );
  const products = (Array.isArray(statement.products) ? statement.products : []).map(
    (product: any, p: number) => readVexProduct(product, `${where}.products[${p}]`),
  );
  const timestamp = [statement.timestamp, documentTime].find((t): t is string => typeof t === 'string');
  return { ids, products, status, reason: reason ?? status, ...(timestamp ? { timestamp } : {}), where };
}

function readVexProduct(product: unknown, where: string): VexProduct {
  const purlOf = (item: any, at: string): Purl => {
    const text = typeof item === 'string' ? item : (item?.identifiers?.purl ?? item?.['@id']);
    const purl = typeof text === 'string' ? parsePurl(text) : undefined;
    // Products are matched by purl only; one that cannot match would silently suppress nothing.
    if (!purl) throw new ConfigurationError(`${JSON.stringify(text)} is not a package URL (pkg:...)`, at);
    return purl;
  };
  const subcomponents = Array.isArray((product as any)?.subcomponents) ? (product as any).subcomponents : [];
  return {
    purl: purlOf(product, where),
    subcomponents: subcomponents.map((item: unknown, s: number) =>
      purlOf(item, `${where}.subcomponents[${s}]`),
    ),
  };
}

/** The latest statement about this finding, or undefined when none speaks of it. */
function vexStatementFor(finding: Finding, statements: readonly VexStatement[]): VexStatement | undefined {
  let latest: VexStatement | undefined;
  for (const statement of statements) {
    if (!statement.ids.some((id) => sameId(id, finding.id))) continue;
    if (statement.products.length > 0 && !statement.products.some((p) => productCovers(p, finding))) continue;
    if (!latest || time(statement) >= time(latest)) latest = statement;
  }
  return latest;
}

function time(statement: VexStatement): number {
  const t = statement.timestamp ? Date.parse(statement.timestamp) : Number.NaN;
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
}

// An image product (pkg:oci, pkg:docker) without subcomponents speaks for every package in it. The
// finding does not carry the image digest, so the document is trusted to be about the image scanned.
const IMAGE_TYPES = ['oci', 'docker'];

function productCovers(product: VexProduct, finding: Finding): boolean {
  if (product.subcomponents.length > 0)
    return product.subcomponents.some((purl) => purlMatches(purl, finding));
  return IMAGE_TYPES.includes(product.purl.type) || purlMatches(product.purl, finding);
}

/**
 * Scanners name packages without their purl, so the purl's name is compared with the finding's package
 * in the spellings scanners use (`name`, `namespace/name` for Go, `namespace:name` for Maven), and its
 * version, when it has one, with the installed version (rpm epochs travel as a qualifier).
 */
function purlMatches(purl: Purl, finding: Finding): boolean {
  const pkg = finding.package?.toLowerCase();
  if (!pkg) return false;
  const names = [purl.name];
  if (purl.namespace) names.push(`${purl.namespace}/${purl.name}`, `${purl.namespace}:${purl.name}`);
  if (!names.some((name) => name.toLowerCase() === pkg)) return false;
  if (purl.version === undefined) return true;
  const versions = [purl.version];
  if (purl.qualifiers.epoch) versions.push(`${purl.qualifiers.epoch}:${purl.version}`);
  return versions.includes(finding.installed ?? '');
}

/** Package URL (github.com/package-url/purl-spec): pkg:type/namespace/name@version?qualifiers#subpath. */
export function parsePurl(text: string): Purl | undefined {
  const match = /^pkg:([^/]+)\/+([^?#]+)(?:\?([^#]*))?(?:#.*)?$/.exec(text.trim());
  if (!match) return undefined;
  const segments = match[2].split('/').filter((s) => s !== '');
  const last = segments.pop();
  if (!last) return undefined;
  // The version is split off the last segment only, so an unencoded npm scope (@types) is not read as one.
  const at = last.lastIndexOf('@');
  const qualifiers: Record<string, string> = {};
  for (const pair of (match[3] ?? '').split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0) qualifiers[pair.slice(0, eq).toLowerCase()] = decode(pair.slice(eq + 1));
  }
  const purl: Purl = {
    type: match[1].toLowerCase(),
    name: decode(at > 0 ? last.slice(0, at) : last),
    qualifiers,
  };
  if (segments.length > 0) purl.namespace = segments.map(decode).join('/');
  if (at > 0) purl.version = decode(last.slice(at + 1));
  return purl;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
