/**
 * The bundled scan-image action run as the runner runs it. The scanner is a STAND-IN served from a local
 * release-shaped server (test/support/scanner-stand-in.ts), and the Actions cache is a STAND-IN of the
 * cache service's v1 protocol (test/support/actions-cache-stand-in.ts): neither exists off GitHub.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CacheStandIn, startCacheStandIn } from './support/actions-cache-stand-in.js';
import { type FileServer, serveDirectory } from './support/file-server.js';
import { RunnerSandbox } from './support/runner.js';
import { fakeRelease } from './support/scanner-stand-in.js';

const REPORT = resolve('../shared/fixtures/scanners/trivy/debian-buster.json');

let cache: CacheStandIn;
let releases: FileServer;
beforeAll(async () => {
  cache = await startCacheStandIn();
  releases = await serveDirectory(fakeRelease('trivy', '9.9.9').root);
});
afterAll(async () => {
  await cache?.close();
  await releases?.close();
});

function scan(
  sandbox: RunnerSandbox,
  log: string,
  env: Record<string, string> = {},
  inputs: Record<string, string> = {},
) {
  return sandbox.run(
    {
      image: 'ghcr.io/acme/server:1.2',
      'scanner-version': '9.9.9',
      'scanner-download-url': releases.url,
      'model-files': resolve('test/fixtures/model-files/os_system.pkl'),
      'severity-cutoff': 'CRITICAL',
      'report-path': 'mlgate-report/scan-image.json',
      ...inputs,
    },
    { STANDIN_LOG: log, STANDIN_REPORT: REPORT, ...env },
  );
}

const argvs = (log: string) =>
  readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as string[]);

describe('scan-image action (bundled, as the runner runs it)', () => {
  it('installs, caches the database in the Actions cache, and the next job restores it instead of downloading', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const cacheEnv = { ACTIONS_CACHE_URL: cache.url, ACTIONS_RUNTIME_TOKEN: cache.token };
    const dbDir = join(mkdtempSync(join(tmpdir(), 'mlgate-db-')), 'trivy');
    const log1 = join(mkdtempSync(join(tmpdir(), 'mlgate-standin-')), 'argv.log');
    const first = await scan(new RunnerSandbox('scan-image'), log1, cacheEnv, { 'db-dir': dbDir });
    expect(first.stderr).toBe('');
    // debian-buster: one CRITICAL; the model file: a CRITICAL os.system import. Both fail the cutoff.
    expect(first.status).toBe(1);
    expect(first.outputs).toMatchObject({ critical: '2', high: '0', low: '1', blocking: '2' });
    expect(first.summary).toContain('mlgate scan-image: failed');
    expect(first.summary).toMatch(/\| Model files \| 1 \| 0 \| 0 \| 0 \| 0 \|/);
    expect(argvs(log1).some((a) => a.includes('--download-db-only'))).toBe(true);
    expect(cache.entries()).toEqual([`mlgate-trivy-db-${process.platform}-${process.arch}-${day}`]);
    expect(first.stdout).not.toContain(cache.token);

    // A later job on a fresh runner: the scanner is installed again, the database comes from the cache.
    // The cache is keyed by the database's path too; on GitHub that is the same on every runner.
    rmSync(dbDir, { recursive: true });
    const log2 = join(mkdtempSync(join(tmpdir(), 'mlgate-standin-')), 'argv.log');
    const sandbox = new RunnerSandbox('scan-image');
    const second = await scan(sandbox, log2, cacheEnv, { 'db-dir': dbDir });
    expect(second.status).toBe(1);
    expect(argvs(log2).some((a) => a.includes('--download-db-only'))).toBe(false);
    const report = JSON.parse(
      readFileSync(join(sandbox.workspace, 'mlgate-report', 'scan-image.json'), 'utf8'),
    );
    expect(report.details.database).toMatchObject({ cache: 'hit', stale: false });
    expect(report.details.database.source).toContain('the Actions cache');
    expect(cache.entries()).toHaveLength(1);
  });

  it('under act without a cache server: no cache, the scan still runs, outputs and SARIF are written', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'mlgate-standin-')), 'argv.log');
    const sandbox = new RunnerSandbox('scan-image');
    const run = await scan(sandbox, log, { ACT: 'true' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(1);
    const report = JSON.parse(
      readFileSync(join(sandbox.workspace, 'mlgate-report', 'scan-image.json'), 'utf8'),
    );
    expect(report.details.database.cache).toBe('unavailable');
    expect(run.outputs['sarif-path']).toBe(join(sandbox.workspace, 'mlgate-report', 'scan-image.sarif'));
    const sarif = JSON.parse(readFileSync(run.outputs['sarif-path'], 'utf8'));
    expect(sarif.runs[0].results.length).toBe(3);
  });
});
