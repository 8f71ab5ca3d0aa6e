/**
 * scan-image: the serving image (through Trivy or Grype, installed pinned and verified) and the model
 * files (read, never loaded) are scanned before release, and one severity policy decides. The findings
 * go to the report, the job summary and a SARIF log for code scanning, also when the gate fails.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { evaluateGates, loadGates } from '../gates/index.js';
import type { Logger } from '../logging.js';
import { buildReport, MLGATE_VERSION } from '../report/json.js';
import type { GateResult } from '../report/types.js';
import type { Command } from '../runtime/command.js';
import { input, type RawInputs } from '../runtime/inputs.js';
import { actionsDbCache, dbCacheKey } from '../scan/db-cache.js';
import { countBySeverity, type Finding, SEVERITIES } from '../scan/findings.js';
import { type InstalledScanner, installScanner, toolCacheRoot } from '../scan/install.js';
import { scanModelFiles } from '../scan/model-files.js';
import {
  applyPolicy,
  parseIgnoreFile,
  parseOpenVex,
  parseSeverity,
  parseSeverityList,
  type ScanPolicy,
} from '../scan/policy.js';
import { parseScannerReport, type Scanner } from '../scan/reports.js';
import { formatSarif, toSarif } from '../scan/sarif.js';
import {
  checkTarget,
  databaseBuiltAt,
  runScan,
  type ScanTarget,
  TARGET_KINDS,
  type TargetKind,
  updateDatabase,
} from '../scan/scanner.js';
import { renderScanImage } from './scan-image-summary.js';

export interface ScanImageInputs {
  target?: { kind: TargetKind; value: string };
  scannerReport?: string;
  modelFiles: string[];
  scanner: Scanner;
  scannerVersion: string;
  scannerDownloadUrl: string;
  scannerPath?: string;
  dbRepositories: string[];
  dbCache: boolean;
  dbDir?: string;
  dbMaxAgeMs: number;
  offline: boolean;
  policy: ScanPolicy;
  /** Where the ignore file, VEX and baseline came from, for the report. */
  policySources: { ignoreFile?: string; vex: string[]; baselineReport?: string };
  gates: string;
  maxInitializerBytes: number;
  sarifPath?: string;
  sarifLocation?: string;
  scannerOutput: string;
}

/** The count metrics the gates can name. */
const METRICS = ['critical', 'high', 'medium', 'low', 'unknown', 'total', 'blocking', 'new', 'model'];

export function readScanImageInputs(raw: RawInputs): ScanImageInputs {
  const given = TARGET_KINDS.filter((kind) => input.optional(raw, kind) !== undefined);
  if (given.length > 1)
    throw new ConfigurationError(
      `give one scan target, not ${given.length} (${given.join(', ')}): use one step per target`,
      `input "${given[1]}"`,
    );
  const target = given[0] ? { kind: given[0], value: input.string(raw, given[0]) } : undefined;
  const scannerReport = input.optional(raw, 'scanner-report');
  const modelFiles = input.lineList(raw, 'model-files');
  if (target && scannerReport)
    throw new ConfigurationError(
      `give either a scan target (${target.kind}) or scanner-report, not both`,
      'input "scanner-report"',
    );
  if (!target && !scannerReport && modelFiles.length === 0)
    throw new ConfigurationError(
      `nothing to scan: give one of ${TARGET_KINDS.join(', ')} or scanner-report, and/or model-files`,
      'inputs',
    );
  const ignoreFile = input.optional(raw, 'ignore-file');
  const vex = input.lineList(raw, 'vex');
  const baselineReport = input.optional(raw, 'baseline-report');
  const scanner = input.choice(raw, 'scanner', ['trivy', 'grype'] as const);
  return {
    target,
    scannerReport,
    modelFiles,
    scanner,
    scannerVersion: input.string(raw, 'scanner-version'),
    scannerDownloadUrl: input.string(raw, 'scanner-download-url'),
    scannerPath: input.optional(raw, 'scanner-path'),
    dbRepositories: input.lineList(raw, 'db-repositories'),
    dbCache: input.bool(raw, 'db-cache'),
    dbDir: input.optional(raw, 'db-dir'),
    dbMaxAgeMs: input.duration(raw, 'db-max-age'),
    offline: input.bool(raw, 'offline'),
    policy: {
      severityCutoff: parseSeverity(raw.get('severity-cutoff'), 'input "severity-cutoff"'),
      reportSeverities: parseSeverityList(raw.get('report-severities'), 'input "report-severities"'),
      ignoreUnfixed: input.bool(raw, 'ignore-unfixed'),
      ignores: ignoreFile ? parseIgnoreFile(readText(ignoreFile, 'ignore-file'), ignoreFile) : [],
      vex: vex.flatMap((path) => parseOpenVex(readText(path, 'vex'), path)),
      baseline: baselineReport ? readBaseline(baselineReport) : undefined,
    },
    policySources: { ignoreFile, vex, baselineReport },
    gates: input.lines(raw, 'gates'),
    maxInitializerBytes: parseBytes(raw.get('max-initializer-size'), 'input "max-initializer-size"'),
    sarifPath: input.optional(raw, 'sarif-path'),
    sarifLocation: input.optional(raw, 'sarif-location'),
    scannerOutput: input.string(raw, 'scanner-output') || 'mlgate-report/scanner.json',
  };
}

function readText(path: string, name: string): string {
  if (!existsSync(path)) throw new ConfigurationError(`${path} does not exist`, `input "${name}"`);
  return readFileSync(path, 'utf8');
}

/** The findings of an earlier scan: this action's report (all its findings), or a scanner's report. */
function readBaseline(path: string): Finding[] {
  const text = readText(path, 'baseline-report');
  try {
    const doc = JSON.parse(text);
    if (doc?.command === 'scan-image') {
      if (!Array.isArray(doc.details?.findings))
        throw new ConfigurationError(
          'is a scan-image report without findings (it failed before scanning)',
          path,
        );
      return doc.details.findings;
    }
  } catch (e) {
    if (e instanceof ConfigurationError) throw e;
    // Not JSON: parseScannerReport says so, with the formats it accepts.
  }
  return parseScannerReport(text, path).findings;
}

/** `2GB`, `512 MB`, `1048576`: powers of 1024. */
export function parseBytes(text: string, where: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|KIB|MB|MIB|GB|GIB|TB|TIB)?\s*$/i.exec(text);
  if (!m) throw new ConfigurationError(`expected a size such as 512MB or 2GB, got "${text}"`, where);
  const power = { B: 0, K: 1, M: 2, G: 3, T: 4 }[
    (m[2] ?? 'B')[0].toUpperCase() as 'B' | 'K' | 'M' | 'G' | 'T'
  ];
  return Math.round(Number(m[1]) * 1024 ** power);
}

interface ImageScan {
  findings: Finding[];
  artifact: string;
  /** Where the scanner's own JSON is. */
  reportPath?: string;
  tool?: InstalledScanner;
  database?: Record<string, unknown>;
}

/** The scanner installed, its database ready, the target scanned; or the given report read. */
async function scanTarget(
  inputs: ScanImageInputs,
  logger: Logger,
  warnings: string[],
): Promise<ImageScan | undefined> {
  if (inputs.scannerReport) {
    const report = parseScannerReport(readText(inputs.scannerReport, 'scanner-report'), inputs.scannerReport);
    logger.info(
      `${inputs.scannerReport}: ${report.findings.length} findings from ${report.scanner} (${report.format})`,
    );
    return { findings: report.findings, artifact: report.artifact, reportPath: inputs.scannerReport };
  }
  if (!inputs.target) return undefined;
  const target: ScanTarget = await checkTarget(inputs.target.kind, inputs.target.value);
  const tool = await logger.group(`Installing ${inputs.scanner}`, () =>
    installScanner({
      scanner: inputs.scanner,
      version: inputs.scannerVersion,
      baseUrl: inputs.scannerDownloadUrl,
      path: inputs.scannerPath,
      logger,
    }),
  );
  const database = await logger.group('Vulnerability database', () =>
    prepareDatabase(inputs, tool, logger, warnings),
  );
  const output = resolve(inputs.scannerOutput);
  await mkdir(dirname(output), { recursive: true });
  await logger.group(`Scanning ${target.kind} ${target.value}`, () =>
    runScan(tool, target, output, database.dir as string, inputs.offline),
  );
  const report = parseScannerReport(readFileSync(output, 'utf8'), output);
  logger.info(
    `${tool.scanner} found ${report.findings.length} vulnerabilities in ${report.artifact || target.value}`,
  );
  return {
    findings: report.findings,
    artifact: report.artifact || target.value,
    reportPath: output,
    tool,
    database,
  };
}

/** The database restored from the cache, refreshed unless offline or already today's, and its age checked. */
async function prepareDatabase(
  inputs: ScanImageInputs,
  tool: InstalledScanner,
  logger: Logger,
  warnings: string[],
): Promise<Record<string, unknown>> {
  const dir = resolve(inputs.dbDir ?? join(toolCacheRoot(), 'mlgate-scan-db', tool.scanner));
  const cache = inputs.dbCache ? actionsDbCache(logger) : undefined;
  const { key, prefix } = dbCacheKey(tool.scanner, new Date());
  const restored = cache ? await cache.restore(dir, key, prefix) : undefined;
  const cacheState = !inputs.dbCache
    ? 'disabled'
    : !cache
      ? 'unavailable'
      : restored === key
        ? 'hit'
        : restored
          ? 'older day restored'
          : 'miss';
  logger.info(`Database directory ${dir}; Actions cache: ${cacheState}${restored ? ` (${restored})` : ''}`);

  let source = 'db-dir as it was';
  let builtAt = await databaseBuiltAt(tool, dir);
  if (inputs.offline) {
    if (!builtAt)
      throw new ConfigurationError(
        `offline, and there is no ${tool.scanner} database in ${dir}: download one beforehand (${tool.scanner === 'trivy' ? 'trivy image --download-db-only --cache-dir DIR' : 'GRYPE_DB_CACHE_DIR=DIR grype db update'}) and give its directory in db-dir`,
        'input "offline"',
      );
    source = 'offline: db-dir';
  } else if (restored === key && builtAt) {
    source = `the Actions cache (${key})`;
  } else {
    try {
      source = await updateDatabase(tool, dir, inputs.dbRepositories, logger);
      builtAt = await databaseBuiltAt(tool, dir);
      if (cache && builtAt) await cache.save(dir, key);
    } catch (e) {
      // A database restored from an older day still scans: warn, and let the age warning say how old.
      if (!builtAt) throw e;
      warnings.push(`${(e as Error).message}; scanned with the database already in ${dir}`);
      source = 'an older database (every source failed)';
    }
  }
  const ageMs = builtAt ? Date.now() - builtAt.getTime() : undefined;
  const stale = ageMs !== undefined && ageMs > inputs.dbMaxAgeMs;
  if (stale)
    warnings.push(
      `the ${tool.scanner} vulnerability database was built ${Math.round(ageMs / 3_600_000)} h ago (${builtAt!.toISOString()}), more than db-max-age: recent vulnerabilities may be missing. Refresh it${inputs.offline ? ' (offline: download a new one into db-dir)' : ''}`,
    );
  return {
    dir,
    source,
    cache: cacheState,
    builtAt: builtAt?.toISOString() ?? null,
    ageHours: ageMs === undefined ? null : ageMs / 3_600_000,
    stale,
  };
}

export const scanImage: Command<ScanImageInputs> = {
  name: 'scan-image',
  title: 'Image and model-file scan',
  readInputs: readScanImageInputs,
  async run(inputs, logger) {
    const warnings: string[] = [];
    const gates = loadGates(inputs.gates);
    const image = await scanTarget(inputs, logger, warnings);
    const models = inputs.modelFiles.length
      ? await logger.group('Scanning model files', () =>
          scanModelFiles(inputs.modelFiles, { maxInitializerBytes: inputs.maxInitializerBytes }),
        )
      : undefined;
    for (const file of models?.scanned ?? []) logger.info(`${file.path}: ${file.format}`);

    const findings = [...(image?.findings ?? []), ...(models?.findings ?? [])];
    const outcome = applyPolicy(findings, inputs.policy, new Date());
    for (const expired of outcome.expiredIgnores)
      warnings.push(
        `ignore entry ${expired.entry.id} (${expired.entry.where}) expired on ${expired.entry.expires}: it no longer applies${expired.findings.length ? ` and ${expired.findings.length} finding(s) count again` : ''}`,
      );

    const counts = outcome.counts;
    const suppressed = new Set(outcome.ignored.filter((i) => i.by !== 'baseline').map((i) => i.finding));
    const blocking = outcome.failing.length;
    const fromBaseline = outcome.ignored.filter((i) => i.by === 'baseline').length;
    const metrics = {
      critical: counts.CRITICAL,
      high: counts.HIGH,
      medium: counts.MEDIUM,
      low: counts.LOW,
      unknown: counts.UNKNOWN,
      total: SEVERITIES.reduce((sum, s) => sum + counts[s], 0),
      blocking,
      new: inputs.policy.baseline ? blocking : null,
      // Counted as `counts` counts: what the policy suppressed is out, what the baseline already had is in.
      model: (models?.findings ?? []).filter((f) => !suppressed.has(f)).length,
    };
    const cutoff = inputs.policy.severityCutoff;
    const cutoffGate: GateResult = {
      expression: `blocking == 0`,
      metric: 'blocking',
      operator: '==',
      actual: blocking,
      threshold: 0,
      passed: blocking === 0,
      scope: 'overall',
      reason: `findings at or above ${cutoff}${inputs.policy.baseline ? ' absent from the baseline' : ''} (severity-cutoff)`,
    };
    const results = [cutoffGate, ...evaluateGates(gates, { metrics, known: METRICS })];

    let sarif: Record<string, unknown> | undefined;
    if (inputs.sarifPath) {
      const { log, truncated } = toSarif(
        outcome.reported,
        {
          name: 'mlgate scan-image',
          version: MLGATE_VERSION,
          informationUri: 'https://github.com/mlgate/mlgate',
        },
        {
          locationUri: inputs.sarifLocation,
          category: `mlgate-scan-image${image?.tool ? `-${image.tool.scanner}` : ''}`,
        },
      );
      const path = resolve(inputs.sarifPath);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, formatSarif(log), 'utf8');
      if (truncated)
        warnings.push(
          `the SARIF log holds ${truncated.kept} of ${truncated.total} findings (GitHub's ${truncated.reasons.join(' and ')} limit); the least severe were left out, all are in the JSON report`,
        );
      sarif = { path, results: log.runs[0]?.results.length ?? 0, truncated: truncated ?? null };
    }

    const report = buildReport({
      command: 'scan-image',
      gates: results,
      metrics,
      warnings,
      details: {
        target:
          inputs.target ??
          (inputs.scannerReport ? { kind: 'scanner-report', value: inputs.scannerReport } : null),
        artifact: image?.artifact ?? null,
        scanner: image?.tool
          ? {
              name: image.tool.scanner,
              version: image.tool.version,
              path: image.tool.path,
              source: image.tool.source,
              asset: image.tool.asset ?? null,
              sha256: image.tool.sha256 ?? null,
              pinned: image.tool.pinned,
            }
          : null,
        database: image?.database ?? null,
        scannerReport: image?.reportPath ?? null,
        modelFiles: models?.scanned ?? [],
        policy: {
          severityCutoff: cutoff,
          reportSeverities: inputs.policy.reportSeverities,
          ignoreUnfixed: inputs.policy.ignoreUnfixed,
          ...inputs.policySources,
        },
        counts: {
          image: countBySeverity(image?.findings ?? []),
          model: countBySeverity(models?.findings ?? []),
          afterPolicy: counts,
        },
        fromBaseline,
        failing: outcome.failing,
        reported: outcome.reported,
        ignored: outcome.ignored,
        expiredIgnores: outcome.expiredIgnores,
        // Every finding before the policy: what a later run's baseline-report reads.
        findings,
        sarif: sarif ?? null,
      },
    });

    return {
      report,
      markdown: renderScanImage(report),
      terminal: [
        `  ${SEVERITIES.map((s) => `${s.toLowerCase()} ${counts[s]}`).join(', ')}; ${blocking} at or above ${cutoff}`,
        ...outcome.failing
          .slice(0, 5)
          .map(
            (f) =>
              `  ${f.severity} ${f.id} ${f.package ?? f.target}${f.installed ? ` ${f.installed}` : ''}${f.fixed ? ` (fixed in ${f.fixed})` : ''}: ${f.title.length > 100 ? `${f.title.slice(0, 97)}...` : f.title}`,
          ),
      ],
      outputs: {
        critical: String(counts.CRITICAL),
        high: String(counts.HIGH),
        medium: String(counts.MEDIUM),
        low: String(counts.LOW),
        unknown: String(counts.UNKNOWN),
        blocking: String(blocking),
        'sarif-path': (sarif?.path as string) ?? '',
        'scanner-report-path': image?.reportPath ?? '',
      },
    };
  },
};
