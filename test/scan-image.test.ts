/**
 * scan-image through the command, as every face runs it. The scanner binaries cannot be downloaded here:
 * these tests use a STAND-IN scanner (test/support/scanner-stand-in.ts) served from a local release-shaped
 * HTTP server; what it writes are real Trivy and Grype reports from ../shared/fixtures/scanners.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanImage } from '../src/commands/scan-image.js';
import { ExitCode } from '../src/errors.js';
import { RELEASES } from '../src/scan/install.js';
import { tarEntryNames } from '../src/scan/scanner.js';
import { runCommand } from './support/command.js';
import { type FileServer, serveDirectory } from './support/file-server.js';
import { fakeRelease, writeStandInScanner } from './support/scanner-stand-in.js';

const FIXTURES = resolve('../shared/fixtures/scanners');
const MODEL_FILES = resolve('test/fixtures/model-files');
const DEBIAN = join(FIXTURES, 'trivy', 'debian-buster.json'); // CRITICAL 1, LOW 1
const GRYPE = join(FIXTURES, 'grype', 'chainguard-ruby-test.json'); // High 3

let work: string;
let log: string;
const saved = { ...process.env };
const servers: FileServer[] = [];

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'mlgate-scan-'));
  log = join(work, 'argv.log');
  Object.assign(process.env, {
    RUNNER_TOOL_CACHE: join(work, 'toolcache'),
    RUNNER_TEMP: join(work, 'temp'),
    STANDIN_LOG: log,
    STANDIN_REPORT: DEBIAN,
  });
  delete process.env.STANDIN_DB_BUILT;
  mkdirSync(join(work, 'temp'));
});
afterEach(() => {
  process.env = { ...saved };
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const logText = (run: { logger: { lines: { message: string }[] } }) =>
  run.logger.lines.map((l) => l.message).join('\n');

/** The argv of every stand-in invocation so far. */
const calls = (): string[][] =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
    : [];

async function release(...args: Parameters<typeof fakeRelease>) {
  const r = fakeRelease(...args);
  const server = await serveDirectory(r.root);
  servers.push(server);
  return { ...r, server };
}

/** The command, with its files written in the test's directory rather than the repository. */
const scan = (inputs: Record<string, string>) =>
  runCommand(scanImage, {
    'sarif-path': join(work, 'scan.sarif'),
    'scanner-output': join(work, 'scanner.json'),
    ...inputs,
  });

/** Inputs for a scan with the stand-in given as scanner-path: no install. */
function withStandIn(scanner: 'trivy' | 'grype', inputs: Record<string, string>) {
  return {
    scanner,
    'scanner-path': writeStandInScanner(join(work, 'bin'), scanner, '9.9.9'),
    'db-dir': join(work, 'db'),
    'scanner-output': join(work, 'scanner.json'),
    'sarif-path': join(work, 'scan.sarif'),
    ...inputs,
  };
}

describe('scan-image: installing the scanner (stand-in release on a local server)', () => {
  it('downloads, verifies against the checksums file, caches, then scans an image with the real report', async () => {
    const r = await release('trivy', '9.9.9');
    const run = await scan({
      image: 'ghcr.io/acme/server:1.2',
      'scanner-version': '9.9.9',
      'scanner-download-url': r.server.url,
      'scanner-output': join(work, 'scanner.json'),
      'sarif-path': join(work, 'scan.sarif'),
    });
    expect(run.message).toBe('');
    expect(r.server.requests).toEqual([`/v9.9.9/trivy_9.9.9_checksums.txt`, `/v9.9.9/${r.asset}`]);
    expect(run.details.scanner).toMatchObject({
      name: 'trivy',
      version: '9.9.9',
      source: 'download',
      sha256: r.sha256,
      pinned: false,
    });
    expect(logText(run)).toMatch(/not pinned by this mlgate release/);
    const cached = join(work, 'toolcache', 'trivy', '9.9.9', process.arch, 'trivy');
    expect(existsSync(cached)).toBe(true);
    // debian-buster.json: one CRITICAL, one LOW; the HIGH cutoff fails on the CRITICAL.
    expect(run.outcome.exitCode).toBe(ExitCode.GateFailed);
    expect(run.report.metrics).toMatchObject({ critical: 1, high: 0, low: 1, total: 2, blocking: 1 });
    expect(run.outcome.result!.outputs).toMatchObject({ critical: '1', low: '1', blocking: '1' });
    const argv = calls();
    expect(argv[0]).toEqual(['--version']);
    expect(argv.some((a) => a.includes('--download-db-only'))).toBe(true);
    const last = argv.at(-1)!;
    expect(last.slice(0, 3)).toEqual(['image', '--scanners', 'vuln']);
    expect(last.at(-1)).toBe('ghcr.io/acme/server:1.2');
    expect(last).toContain('--skip-db-update');
    expect(readFileSync(join(work, 'scanner.json'), 'utf8')).toBe(readFileSync(DEBIAN, 'utf8'));
    const sarif = JSON.parse(readFileSync(join(work, 'scan.sarif'), 'utf8'));
    expect(sarif.runs[0].results).toHaveLength(2);

    // The next step finds it in the tool cache: nothing is downloaded again.
    const again = await scan({
      image: 'ghcr.io/acme/server:1.2',
      'scanner-version': '9.9.9',
      'scanner-download-url': r.server.url,
    });
    expect(again.details.scanner.source).toBe('tool-cache');
    expect(r.server.requests).toHaveLength(2);
  });

  it('refuses a tampered archive: deleted, never unpacked or run', async () => {
    const r = await release('trivy', '9.9.9', { tamper: 'archive' });
    const run = await scan({
      image: 'alpine:3.20',
      'scanner-version': '9.9.9',
      'scanner-download-url': r.server.url,
    });
    expect(run.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(run.message).toMatch(
      /has sha256 [0-9a-f]{64}, not [0-9a-f]{64} as its checksums file says: it was deleted, not unpacked or run/,
    );
    expect(calls()).toEqual([]);
    expect(existsSync(join(work, 'toolcache', 'trivy'))).toBe(false);
    expect(run.report.error?.message).toBe(run.message);
  });

  it('refuses a pinned version whose checksums file disagrees with the digest pinned in mlgate', async () => {
    // What a hijacked release looks like: a new archive and a checksums file that matches it.
    const version = RELEASES.trivy.defaultVersion;
    const r = await release('trivy', version);
    const run = await scan({ image: 'alpine:3.20', 'scanner-download-url': r.server.url });
    expect(run.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(run.message).toContain(`lists ${r.sha256}`);
    expect(run.message).toMatch(
      /but mlgate pinned [0-9a-f]{64}: the release or the mirror was altered; nothing was installed/,
    );
    expect(r.server.requests).toEqual([`/v${version}/trivy_${version}_checksums.txt`]);
    expect(calls()).toEqual([]);
  });

  it('refuses a checksums file that does not list the asset, and a mirror that does not answer', async () => {
    const r = await release('grype', '9.9.9', { listed: 'not-a-digest' });
    const missing = await scan({
      scanner: 'grype',
      image: 'alpine:3.20',
      'scanner-version': '9.9.9',
      'scanner-download-url': r.server.url,
    });
    expect(missing.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(missing.message).toContain(`lists no sha256 for ${r.asset}: nothing was installed`);
    const gone = await scan({
      image: 'alpine:3.20',
      'scanner-version': '9.9.9',
      'scanner-download-url': `${r.server.url}/nothing-here`,
    });
    expect(gone.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(gone.message).toMatch(/could not download .*trivy_9\.9\.9_checksums\.txt \(HTTP 404\)/);
    expect(gone.message).toContain('input "scanner-download-url"');
  });

  it('installs grype the same way and scans a docker-archive tarball with the right source scheme', async () => {
    process.env.STANDIN_REPORT = GRYPE;
    const r = await release('grype', '9.9.9');
    const archive = dockerArchive();
    const run = await scan({
      scanner: 'grype',
      'image-archive': archive,
      'scanner-version': '9.9.9',
      'scanner-download-url': r.server.url,
      'scanner-output': join(work, 'grype.json'),
    });
    expect(run.message).toBe('');
    expect(run.details.scanner).toMatchObject({ name: 'grype', source: 'download', sha256: r.sha256 });
    const last = calls().at(-1)!;
    expect(last).toEqual([`docker-archive:${archive}`, '-o', 'json', '--file', join(work, 'grype.json')]);
    expect(calls().some((a) => a.join(' ') === 'db update')).toBe(true);
    expect(run.report.metrics).toMatchObject({ high: 3, blocking: 3 });
  });
});

/** A tarball laid out as `docker save` writes it. */
function dockerArchive(): string {
  const dir = join(work, 'image');
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: 'blobs/sha256/aa', RepoTags: ['server:1'], Layers: [] }]),
  );
  writeFileSync(join(dir, 'blobs', 'sha256', 'aa'), '{}');
  const path = join(work, 'server.tar');
  execFileSync('tar', ['-cf', path, '-C', dir, 'blobs', 'manifest.json']);
  return path;
}

/** A directory laid out as an OCI image layout. */
function ociLayout(): string {
  const dir = join(work, 'oci');
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
  return dir;
}

describe('scan-image: targets', () => {
  it('passes each target to trivy as its own kind', async () => {
    const targets: [string, string, string[]][] = [
      ['image-archive', dockerArchive(), ['image', '--input']],
      ['oci-layout', ociLayout(), ['image', '--input']],
      ['directory', MODEL_FILES, ['fs']],
      ['sbom', join(FIXTURES, 'trivy', 'pom-cyclonedx.json'), ['sbom']],
    ];
    for (const [kind, value, expected] of targets) {
      const run = await scan(withStandIn('trivy', { [kind]: value }));
      expect(run.message, kind).toBe('');
      const last = calls().at(-1)!;
      expect(last[0], kind).toBe(expected[0]);
      if (expected[1]) expect(last[last.indexOf('--input') + 1]).toBe(value);
      else expect(last.at(-1)).toBe(value);
      expect(run.details.target).toEqual({ kind, value });
    }
  });

  it('gives grype an explicit scheme for every kind', async () => {
    process.env.STANDIN_REPORT = GRYPE;
    const oci = ociLayout();
    for (const [kind, value, source] of [
      ['image', 'ghcr.io/acme/server:1.2', 'registry:ghcr.io/acme/server:1.2'],
      ['oci-layout', oci, `oci-dir:${oci}`],
      ['directory', MODEL_FILES, `dir:${MODEL_FILES}`],
    ]) {
      await scan(withStandIn('grype', { [kind]: value }));
      expect(calls().at(-1)![0]).toBe(source);
    }
  });

  it('reads an OCI archive and a gzipped tarball from their headers', async () => {
    const oci = ociLayout();
    const tar = join(work, 'oci.tar.gz');
    execFileSync('tar', ['-czf', tar, '-C', oci, 'oci-layout', 'index.json', 'blobs']);
    expect([...(await tarEntryNames(tar))].sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
    const run = await scan(withStandIn('grype', { 'image-archive': tar }));
    expect(run.message).toBe('');
    expect(calls().at(-1)![0]).toBe(`oci-archive:${tar}`);
  });

  it('refuses targets that are not what their input says (exit 2, naming the input)', async () => {
    const notArchive = join(work, 'notes.tar');
    execFileSync('tar', ['-cf', notArchive, '-C', MODEL_FILES, 'dict.pkl']);
    const cases: [Record<string, string>, RegExp][] = [
      [
        { 'image-archive': join(work, 'missing.tar') },
        /input "image-archive": .*missing\.tar does not exist/,
      ],
      [{ 'image-archive': notArchive }, /not an image archive: it has neither manifest\.json/],
      [{ 'image-archive': join(MODEL_FILES, 'dict.pkl') }, /not a readable tar archive|not an image archive/],
      [{ 'oci-layout': MODEL_FILES }, /input "oci-layout": .* is not an OCI image layout/],
      [{ directory: join(MODEL_FILES, 'dict.pkl') }, /input "directory": .* is a file, expected a directory/],
      [{ sbom: join(MODEL_FILES, 'expected.json') }, /input "sbom": .* is not an SBOM/],
      [
        { image: '--config=/etc/passwd' },
        /input "image": "--config=\/etc\/passwd" is not an image reference/,
      ],
      [{ image: 'a:1', directory: MODEL_FILES }, /give one scan target, not 2 \(image, directory\)/],
      [{}, /nothing to scan/],
    ];
    for (const [inputs, message] of cases) {
      const run = await scan(withStandIn('trivy', inputs));
      expect(run.outcome.exitCode, JSON.stringify(inputs)).toBe(ExitCode.ConfigurationError);
      expect(run.message).toMatch(message);
    }
    expect(calls().filter((a) => a[0] !== '--version')).toEqual([]);
  });

  it('an image that does not exist: exit 2 naming the image and what to do, for both scanners', async () => {
    for (const scanner of ['trivy', 'grype'] as const) {
      const run = await runCommand(
        scanImage,
        withStandIn(scanner, { image: 'ghcr.io/acme/does-not-exist:1' }),
      );
      expect(run.outcome.exitCode).toBe(ExitCode.ConfigurationError);
      expect(run.message).toMatch(/input "image": image "ghcr\.io\/acme\/does-not-exist:1" was not found/);
      expect(run.message).toMatch(/docker\/login-action|image-archive/);
    }
  });

  it('an unknown scanner and an unreadable report: exit 2', async () => {
    const unknown = await scan({ scanner: 'clair', image: 'alpine:3.20' });
    expect(unknown.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(unknown.message).toMatch(/input "scanner": expected one of trivy, grype, got "clair"/);
    const garbage = join(work, 'report.json');
    writeFileSync(garbage, '{"Results": [');
    const unreadable = await scan({ 'scanner-report': garbage });
    expect(unreadable.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(unreadable.message).toMatch(/report\.json: not a scanner report: not valid JSON/);
    const missing = await scan({ 'scanner-report': join(work, 'nope.json') });
    expect(missing.message).toMatch(/input "scanner-report": .*nope\.json does not exist/);
  });
});

describe('scan-image: the vulnerability database', () => {
  it('tries the mirrors in order, warns about each failure, and records the one that answered', async () => {
    const run = await runCommand(
      scanImage,
      withStandIn('trivy', {
        image: 'alpine:3.20',
        'db-repositories': 'broken.example/trivy-db:2\nmirror.example/trivy-db:2',
      }),
    );
    expect(run.message).toBe('');
    const updates = calls().filter((a) => a.includes('--download-db-only'));
    expect(updates.map((a) => a[a.indexOf('--db-repository') + 1])).toEqual([
      'broken.example/trivy-db:2',
      'mirror.example/trivy-db:2',
    ]);
    expect(logText(run)).toMatch(/broken\.example\/trivy-db:2 failed: .*404/);
    expect(run.details.database).toMatchObject({
      source: 'mirror.example/trivy-db:2',
      stale: false,
      cache: 'unavailable',
    });
  });

  it('fails with every source listed when none answers and there is no database', async () => {
    const run = await runCommand(
      scanImage,
      withStandIn('trivy', { image: 'alpine:3.20', 'db-repositories': 'broken.one\nbroken.two' }),
    );
    expect(run.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(run.message).toMatch(
      /no vulnerability database source answered \(broken\.one: .*; broken\.two: .*\)/,
    );
  });

  it('warns when the database is stale, and scans anyway', async () => {
    process.env.STANDIN_DB_BUILT = new Date(Date.now() - 10 * 86_400_000).toISOString();
    const run = await runCommand(
      scanImage,
      withStandIn('grype', { image: 'alpine:3.20', 'db-max-age': '48h' }),
    );
    expect(run.message).toBe('');
    expect(run.details.database.stale).toBe(true);
    expect(run.report.warnings.join('\n')).toMatch(
      /vulnerability database was built 240 h ago .*more than db-max-age/,
    );
  });

  it('offline: refuses without a database, and scans with one without downloading anything', async () => {
    const none = await scan(withStandIn('trivy', { image: 'alpine:3.20', offline: 'true' }));
    expect(none.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(none.message).toMatch(
      /offline, and there is no trivy database in .*: download one beforehand \(trivy image --download-db-only/,
    );
    await scan(withStandIn('trivy', { image: 'alpine:3.20' })); // fills db-dir
    const before = calls().length;
    const run = await scan(withStandIn('trivy', { image: 'alpine:3.20', offline: 'true' }));
    expect(run.message).toBe('');
    const after = calls().slice(before);
    expect(after.some((a) => a.includes('--download-db-only'))).toBe(false);
    expect(after.at(-1)).toEqual(
      expect.arrayContaining(['--skip-db-update', '--skip-java-db-update', '--offline-scan']),
    );
    expect(run.details.database.source).toBe('offline: db-dir');
  });
});

describe('scan-image: policy and model files in one gate', () => {
  it('cutoff, reported severities, ignore file with an expired entry, and the counts in outputs', async () => {
    const ignore = join(work, 'ignore.yml');
    writeFileSync(
      ignore,
      [
        'ignores:',
        '  - id: CVE-2019-18224',
        '    reason: not reachable from the server',
        '    expires: 2000-01-01',
      ].join('\n'),
    );
    const run = await scan({
      'scanner-report': DEBIAN,
      'severity-cutoff': 'CRITICAL',
      'report-severities': 'CRITICAL',
      'ignore-file': ignore,
      'sarif-path': join(work, 'scan.sarif'),
    });
    expect(run.message).toBe('');
    expect(run.outcome.exitCode).toBe(ExitCode.GateFailed);
    expect(run.details.failing.map((f: any) => f.severity)).toEqual(['CRITICAL']);
    expect(run.details.reported.every((f: any) => f.severity === 'CRITICAL')).toBe(true);
    expect(run.report.warnings.join('\n')).toMatch(/ignore entry CVE-2019-18224 .* expired on 2000-01-01/);
    expect(run.details.findings).toHaveLength(2);
  });

  it('only new: a finding already in the baseline report does not fail', async () => {
    const first = await scan({ 'scanner-report': DEBIAN });
    expect(first.outcome.exitCode).toBe(ExitCode.GateFailed);
    const baseline = join(first.dir, 'report.json');
    const run = await scan({ 'scanner-report': DEBIAN, 'baseline-report': baseline });
    expect(run.outcome.exitCode).toBe(ExitCode.Passed);
    expect(run.report.metrics).toMatchObject({ critical: 1, blocking: 0, new: 0 });
    expect(run.details.fromBaseline).toBe(1);
    // A scanner's own report works as a baseline too.
    const raw = await scan({ 'scanner-report': DEBIAN, 'baseline-report': DEBIAN });
    expect(raw.report.metrics.blocking).toBe(0);
  });

  it('model files share the policy: a malicious pickle fails the gate next to a clean image report', async () => {
    const run = await scan({
      'scanner-report': join(FIXTURES, 'trivy', 'sl-micro-rancher5.4.json'),
      'model-files': `${join(MODEL_FILES, 'os_system.pkl')}\n${join(MODEL_FILES, 'dict.pkl')}`,
    });
    expect(run.outcome.exitCode).toBe(ExitCode.GateFailed);
    expect(run.report.metrics.model).toBeGreaterThan(0);
    expect(run.details.modelFiles.map((m: any) => m.path)).toHaveLength(2);
    expect(run.details.failing[0]).toMatchObject({ source: 'model', severity: 'CRITICAL' });
    expect(run.outcome.result!.markdown).toContain('posix.system');
    const clean = await scan({ 'model-files': join(MODEL_FILES, 'dict.pkl') });
    expect(clean.outcome.exitCode).toBe(ExitCode.Passed);
  });

  it('extra gates on the counts; a gate on `new` without a baseline fails closed', async () => {
    const run = await scan({
      'scanner-report': join(FIXTURES, 'trivy', 'alpine-310.json'),
      gates: 'medium <= 3\nnew == 0',
    });
    const byExpr = Object.fromEntries(run.report.gates.map((g) => [g.expression, g]));
    expect(byExpr['blocking == 0'].passed).toBe(true);
    expect(byExpr['medium <= 3']).toMatchObject({ passed: false, actual: 4 });
    expect(byExpr['new == 0'].passed).toBe(false);
    const typo = await scan({ 'scanner-report': DEBIAN, gates: 'critcal == 0' });
    expect(typo.outcome.exitCode).toBe(ExitCode.ConfigurationError);
    expect(typo.message).toMatch(/critical/);
  });

  it('writes the report, summary, SARIF and outputs when the gate fails', async () => {
    const run = await scan({
      'scanner-report': DEBIAN,
      'sarif-path': join(work, 'out', 'scan.sarif'),
    });
    expect(run.outcome.exitCode).toBe(ExitCode.GateFailed);
    expect(existsSync(join(work, 'out', 'scan.sarif'))).toBe(true);
    expect(readdirSync(run.dir).sort()).toEqual(['report.json', 'report.md']);
    const md = readFileSync(join(run.dir, 'report.md'), 'utf8');
    expect(md).toContain('CVE-2019-18224');
    expect(md).toMatch(/\| Image \| 1 \| 0 \| 0 \| 1 \| 0 \|/);
    expect(run.outcome.result!.outputs['sarif-path']).toBe(join(work, 'out', 'scan.sarif'));
  });
});
