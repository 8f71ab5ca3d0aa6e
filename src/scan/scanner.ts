/**
 * Running the scanner: what it scans (checked here first, so a wrong path is our clear error and not a
 * scanner's stack of wrapped ones), its vulnerability database (mirrors tried in order, offline mode,
 * its age), and the scan itself, always with an argument array.
 */
import { closeSync, createReadStream, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import { runTool } from '../runtime/tools.js';
import type { InstalledScanner } from './install.js';
import type { Scanner } from './reports.js';

export const TARGET_KINDS = ['image', 'image-archive', 'oci-layout', 'directory', 'sbom'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export interface ScanTarget {
  kind: TargetKind;
  /** As the user gave it: the reference or the path. */
  value: string;
  /** image-archive: what the tarball holds. */
  archive?: 'docker-archive' | 'oci-archive';
}

// A scan of a large image takes minutes; one that takes longer than this is stuck.
const SCAN_TIMEOUT_MS = 30 * 60_000;
const DB_TIMEOUT_MS = 10 * 60_000;

/** Checks the target exists and is what its input says, before any scanner runs. */
export async function checkTarget(kind: TargetKind, value: string): Promise<ScanTarget> {
  const where = `input "${kind}"`;
  if (kind === 'image') {
    // Also keeps a value that looks like an option (`--config=...`) away from the scanner's argv.
    if (!/^[a-z0-9][\w.\-/:@]*$/i.test(value))
      throw new ConfigurationError(`"${value}" is not an image reference like ghcr.io/org/server:1.2`, where);
    return { kind, value };
  }
  const stat = statSync(value, { throwIfNoEntry: false });
  if (!stat) throw new ConfigurationError(`${value} does not exist`, where);
  const wantDirectory = kind === 'oci-layout' || kind === 'directory';
  if (stat.isDirectory() !== wantDirectory)
    throw new ConfigurationError(
      `${value} is ${stat.isDirectory() ? 'a directory' : 'a file'}, expected ${wantDirectory ? 'a directory' : 'a file'}`,
      where,
    );
  switch (kind) {
    case 'oci-layout':
      if (!existsSync(join(value, 'oci-layout')) || !existsSync(join(value, 'index.json')))
        throw new ConfigurationError(
          `${value} is not an OCI image layout (it needs an oci-layout file and index.json); for a plain directory use the directory input`,
          where,
        );
      return { kind, value };
    case 'image-archive':
      return { kind, value, archive: await archiveFormat(value) };
    case 'sbom':
      checkSbom(value);
      return { kind, value };
    default:
      return { kind, value };
  }
}

/** docker-archive (`docker save`: manifest.json) or OCI archive (oci-layout and index.json), from the tar's entries. */
async function archiveFormat(path: string): Promise<'docker-archive' | 'oci-archive'> {
  const names = await tarEntryNames(path).catch((e: Error) => {
    throw new ConfigurationError(
      `${path} is not a readable tar archive (${e.message})`,
      'input "image-archive"',
    );
  });
  if (names.has('manifest.json')) return 'docker-archive';
  if (names.has('oci-layout') && names.has('index.json')) return 'oci-archive';
  throw new ConfigurationError(
    `${path} is not an image archive: it has neither manifest.json (docker save) nor oci-layout and index.json (OCI); ${names.size} entries read`,
    'input "image-archive"',
  );
}

/**
 * The top-level entry names of a tar or tar.gz, read from the headers as the bytes stream past, so a
 * multi-gigabyte image is never held in memory.
 */
export function tarEntryNames(path: string): Promise<Set<string>> {
  const head = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  readSync(fd, head, 0, 2, 0);
  closeSync(fd);
  const file = createReadStream(path);
  const stream = head[0] === 0x1f && head[1] === 0x8b ? file.pipe(createGunzip()) : file;
  return new Promise((resolve, reject) => {
    const names = new Set<string>();
    let pending: Buffer = Buffer.alloc(0);
    let skip = 0;
    const done = (error?: Error) => {
      file.destroy();
      if (error) reject(error);
      else resolve(names);
    };
    file.on('error', done);
    stream.on('error', done);
    stream.on('end', () => done());
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const n = Math.min(skip, pending.length);
        pending = pending.subarray(n);
        skip -= n;
        if (skip > 0 || pending.length < 512) return;
        const header = pending.subarray(0, 512);
        pending = pending.subarray(512);
        if (header.every((b) => b === 0)) return done(); // the end-of-archive block
        const text = (from: number, to: number) =>
          header.subarray(from, to).toString('utf8').replace(/\0.*$/s, '');
        const size = Number.parseInt(text(124, 136).trim() || '0', 8);
        if (!Number.isFinite(size)) return done(new Error('bad tar header'));
        const prefix = text(257, 262) === 'ustar' ? text(345, 500) : '';
        const top = ((prefix ? `${prefix}/` : '') + text(0, 100)).replace(/^\.\//, '').replace(/\/$/, '');
        if (top && !top.includes('/')) names.add(top);
        skip = Math.ceil(size / 512) * 512;
      }
    });
  });
}

function checkSbom(path: string): void {
  const text = readFileSync(path, 'utf8');
  if (/^\s*SPDXVersion:/m.test(text)) return;
  try {
    const doc = JSON.parse(text);
    if (doc?.bomFormat === 'CycloneDX' || typeof doc?.spdxVersion === 'string') return;
  } catch {
    // Reported below, with what is accepted.
  }
  throw new ConfigurationError(
    `${path} is not an SBOM this action can scan: CycloneDX JSON, SPDX JSON or SPDX tag-value`,
    'input "sbom"',
  );
}

export interface DbState {
  dir: string;
  /** When the database was built, as the scanner records it; undefined when there is none. */
  builtAt?: Date;
}

/** Where the database lives and the environment the scanner needs to find it. */
export function scannerEnv(scanner: Scanner, dbDir: string): NodeJS.ProcessEnv {
  if (scanner === 'trivy') return { ...process.env };
  return {
    ...process.env,
    GRYPE_DB_CACHE_DIR: dbDir,
    // mlgate updates the database itself, with mirrors, and warns on age instead of refusing to scan.
    GRYPE_DB_AUTO_UPDATE: 'false',
    GRYPE_DB_VALIDATE_AGE: 'false',
    GRYPE_CHECK_FOR_APP_UPDATE: 'false',
  };
}

/** When the database in `dir` was built, or undefined when there is no usable database there. */
export async function databaseBuiltAt(tool: InstalledScanner, dir: string): Promise<Date | undefined> {
  if (tool.scanner === 'trivy') {
    // Trivy's documented metadata.json: {"Version": 2, "UpdatedAt": ..., "NextUpdate": ..., "DownloadedAt": ...}
    const text = await readFile(join(dir, 'db', 'metadata.json'), 'utf8').catch(() => undefined);
    if (!text || !existsSync(join(dir, 'db', 'trivy.db'))) return undefined;
    const updated = new Date(JSON.parse(text).UpdatedAt);
    return Number.isNaN(updated.getTime()) ? undefined : updated;
  }
  try {
    const out = await runTool(tool.path, ['db', 'status', '-o', 'json'], 60_000, {
      env: scannerEnv('grype', dir),
    });
    const built = new Date(JSON.parse(out).built);
    return Number.isNaN(built.getTime()) ? undefined : built;
  } catch {
    return undefined;
  }
}

/**
 * Downloads the database from the first source that answers (the scanner's default when none are
 * given). Every failure is logged; when all fail the error lists each source and what it said.
 */
export async function updateDatabase(
  tool: InstalledScanner,
  dir: string,
  sources: string[],
  logger: Logger,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const tried: string[] = [];
  for (const source of sources.length > 0 ? sources : ['']) {
    const name = source || `${tool.scanner}'s default source`;
    try {
      if (tool.scanner === 'trivy') {
        const args = ['image', '--download-db-only', '--no-progress', '--cache-dir', dir];
        await runTool(tool.path, source ? [...args, '--db-repository', source] : args, DB_TIMEOUT_MS);
      } else {
        const env = scannerEnv('grype', dir);
        if (source) env.GRYPE_DB_UPDATE_URL = source;
        await runTool(tool.path, ['db', 'update'], DB_TIMEOUT_MS, { env });
      }
      logger.info(`Vulnerability database downloaded from ${name}`);
      return name;
    } catch (e) {
      logger.warning(`Vulnerability database: ${name} failed: ${(e as Error).message}`);
      tried.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new ConfigurationError(
    `no vulnerability database source answered (${tried.join('; ')}); list a mirror in db-repositories, or pre-download the database and set offline: true`,
    'input "db-repositories"',
  );
}

/** The scanner's argv for a target: JSON to `output`, the database as it is (mlgate updated it already). */
export function scanArgs(
  tool: InstalledScanner,
  target: ScanTarget,
  output: string,
  dbDir: string,
  offline: boolean,
): string[] {
  if (tool.scanner === 'trivy') {
    const common = [
      '--format',
      'json',
      '--output',
      output,
      '--cache-dir',
      dbDir,
      '--skip-db-update',
      '--no-progress',
      '--quiet',
    ];
    const offlineArgs = offline ? ['--skip-java-db-update', '--offline-scan'] : [];
    switch (target.kind) {
      case 'image':
        return ['image', '--scanners', 'vuln', ...common, ...offlineArgs, target.value];
      case 'image-archive':
      case 'oci-layout':
        return ['image', '--scanners', 'vuln', ...common, ...offlineArgs, '--input', target.value];
      case 'directory':
        return ['fs', '--scanners', 'vuln', ...common, ...offlineArgs, target.value];
      case 'sbom':
        return ['sbom', ...common, ...offlineArgs, target.value];
    }
  }
  // Grype takes the kind as a scheme; the explicit scheme also stops a path being read as another kind.
  const source = {
    image: `registry:${target.value}`,
    'image-archive': `${target.archive}:${target.value}`,
    'oci-layout': `oci-dir:${target.value}`,
    directory: `dir:${target.value}`,
    sbom: `sbom:${target.value}`,
  }[target.kind];
  return [source, '-o', 'json', '--file', output];
}

// What Trivy and Grype say when an image reference leads nowhere.
const IMAGE_NOT_FOUND =
  /unable to find the specified image|could not fetch image|failed to get image descriptor|MANIFEST_UNKNOWN|NAME_UNKNOWN|manifest unknown|repository does not exist/i;

/** Runs the scan; the scanner's JSON report is at `output` afterwards. */
export async function runScan(
  tool: InstalledScanner,
  target: ScanTarget,
  output: string,
  dbDir: string,
  offline: boolean,
): Promise<void> {
  try {
    await runTool(tool.path, scanArgs(tool, target, output, dbDir, offline), SCAN_TIMEOUT_MS, {
      env: scannerEnv(tool.scanner, dbDir),
    });
  } catch (e) {
    const message = (e as Error).message;
    if (target.kind === 'image' && IMAGE_NOT_FOUND.test(message)) {
      throw new ConfigurationError(
        `image "${target.value}" was not found (${tool.scanner}: ${message}). Check the reference and the registry login (docker/login-action before this step), or scan an image built in this job with image-archive`,
        'input "image"',
      );
    }
    throw e;
  }
}
