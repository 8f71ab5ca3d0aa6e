// Real installs: npm ci from the registry (tarballs mostly come from ~/.npm, hence --prefer-offline),
// into temporary caches with no node_modules above them, the way the bundled action runs on a runner.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tc from '@actions/tool-cache';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import { MemoryLogger } from '../src/logging.js';
import { describePins, installManifests, type NativePins, PINS, pinsVersionKey } from '../src/native/pins.js';
import { nativeTarget, SUPPORTED_TARGETS } from '../src/native/platform.js';
import { NativeLoader, type NativeLoaderOptions } from '../src/native/resolve.js';
import { rejection } from './support/errors.js';

const repo = join(import.meta.dirname, '..');
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
};
const ortVersion = lock.packages['node_modules/onnxruntime-node'].version;
const duckdbVersion = lock.packages['node_modules/@duckdb/node-api'].version;
const linuxX64 = nativeTarget('linux', 'x64', 'glibc');
const scratch = mkdtempSync(join(tmpdir(), 'mlgate-native-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A loader that sees only the variables a test gives it (never the developer's MLGATE_* settings). */
function loaderWith(env: NodeJS.ProcessEnv, options: NativeLoaderOptions = {}) {
  const logger = new MemoryLogger();
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MLGATE_')));
  const loader = new NativeLoader(logger, {
    ignoreNodeModules: true,
    target: linuxX64,
    env: { ...clean, ...env },
    ...options,
  });
  const said = () => logger.lines.map((l) => l.message);
  return { loader, logger, said };
}

describe('pins.json', () => {
  it('matches package-lock.json (regenerate with `node scripts/gen-native-pins.mjs`)', () => {
    const fresh = execFileSync(process.execPath, [join(repo, 'scripts', 'gen-native-pins.mjs'), '--stdout'], {
      encoding: 'utf8',
    });
    expect(readFileSync(join(repo, 'src', 'native', 'pins.json'), 'utf8')).toBe(fresh);
  });

  it('pins the versions in package-lock.json, every package with a sha512 integrity', () => {
    expect(PINS.roots).toEqual({ 'onnxruntime-node': ortVersion, '@duckdb/node-api': duckdbVersion });
    for (const [location, entry] of Object.entries(PINS.packages)) {
      expect(entry.integrity, location).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    }
  });

  it('names a version the tool cache accepts', () => {
    expect(tc.isExplicitVersion(pinsVersionKey())).toBe(true);
  });
});

describe('installManifests', () => {
  it('gives npm ci a lockfile with this platform only, every edge resolved', () => {
    const { packageJson, packageLock } = installManifests(linuxX64);
    expect(packageJson.dependencies).toEqual(PINS.roots);
    const packages = packageLock.packages as Record<
      string,
      { dependencies?: object; optionalDependencies?: object }
    >;
    expect(Object.keys(packages)).toContain('node_modules/@duckdb/node-bindings-linux-x64');
    expect(Object.keys(packages)).not.toContain('node_modules/@duckdb/node-bindings-linux-x64-musl');
    expect(packages['node_modules/@duckdb/node-bindings'].optionalDependencies).toEqual({
      '@duckdb/node-bindings-linux-x64': duckdbVersion,
    });
    for (const [location, entry] of Object.entries(packages)) {
      for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
        const nested = `${location ? `${location}/` : ''}node_modules/${name}`;
        expect(packages[nested] ?? packages[`node_modules/${name}`], `${name} of ${location}`).toBeDefined();
      }
    }
  });

  it.each(SUPPORTED_TARGETS.map((t) => [t.key, t] as const))(
    'for %s, pins its DuckDB binding or says the lockfile lacks it',
    (_key, target) => {
      if (PINS.missing.some((m) => m.name === target.duckdbBindingPackage)) {
        expect(() => installManifests(target)).toThrow(ConfigurationError);
        expect(() => installManifests(target)).toThrow(/MLGATE_NATIVE_DIR/);
      } else {
        expect(installManifests(target).packageLock.packages).toHaveProperty(
          `node_modules/${target.duckdbBindingPackage}`,
        );
      }
    },
  );
});

describe('NativeLoader', () => {
  const cache = join(scratch, 'cache');
  const installed = join(cache, 'native', pinsVersionKey(), 'linux-x64');

  it('installs both engines with npm ci into an empty cache and loads them from there', async () => {
    const { loader, said } = loaderWith({ MLGATE_CACHE_DIR: cache });
    const duckdb = await loader.loadDuckDB();
    const connection = await (await duckdb.DuckDBInstance.create()).connect();
    expect((await connection.runAndReadAll('SELECT 42 AS answer')).getRowObjects()).toEqual([{ answer: 42 }]);
    connection.closeSync();

    const ort = await loader.loadOnnxRuntime();
    expect(typeof ort.InferenceSession.create).toBe('function');
    expect(ort.listSupportedBackends().map((b) => b.name)).toContain('cpu');

    expect(said()).toContain(`Installing native engines (${describePins()}) into the cache ...`);
    expect(said().filter((m) => m.includes(' ci --omit=dev --ignore-scripts'))).toHaveLength(1);
    expect(loader.info()).toEqual({
      platform: `${process.platform}-${process.arch}`,
      duckdb: { package: '@duckdb/node-api', version: duckdbVersion, route: 'install', directory: installed },
      onnxruntime: {
        package: 'onnxruntime-node',
        version: ortVersion,
        route: 'install',
        directory: installed,
      },
    });
    // Only this platform's onnxruntime binaries are kept.
    expect(readdirSync(join(installed, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6'))).toEqual([
      'linux',
    ]);
    expect(readdirSync(join(cache, 'native', pinsVersionKey()))).toEqual(['linux-x64']);
  });

  it('reuses the cached install without running npm', async () => {
    const { loader, said } = loaderWith({ MLGATE_CACHE_DIR: cache });
    await loader.loadDuckDB();
    await loader.loadOnnxRuntime();
    expect(said().some((m) => m.startsWith('Installing'))).toBe(false);
    expect(said().some((m) => m.includes(' ci '))).toBe(false);
    expect(loader.info().duckdb?.route).toBe('cache');
    expect(loader.info().onnxruntime?.route).toBe('cache');
  });

  it('memoises each engine', async () => {
    const { loader } = loaderWith({ MLGATE_CACHE_DIR: cache });
    expect(await loader.loadDuckDB()).toBe(await loader.loadDuckDB());
  });

  it('uses the tool cache on a runner, and finds it there the next time', async () => {
    const toolCache = join(scratch, 'toolcache');
    const runnerTemp = join(scratch, 'runner-temp');
    mkdirSync(runnerTemp, { recursive: true });
    // @actions/tool-cache reads these from process.env, not from the loader's env.
    process.env.RUNNER_TOOL_CACHE = toolCache;
    process.env.RUNNER_TEMP = runnerTemp;
    try {
      const first = loaderWith({});
      await first.loader.loadDuckDB();
      const dir = join(toolCache, 'mlgate-native', pinsVersionKey(), 'x64');
      expect(first.loader.info().duckdb).toMatchObject({ route: 'install', directory: dir });
      expect(first.said()).toContain(`Installing native engines (${describePins()}) into the tool cache ...`);
      expect(existsSync(`${dir}.complete`)).toBe(true);
      expect(readdirSync(runnerTemp)).toEqual([]);

      const second = loaderWith({});
      await second.loader.loadDuckDB();
      expect(second.loader.info().duckdb).toMatchObject({ route: 'tool-cache', directory: dir });
      expect(second.said().some((m) => m.startsWith('Installing'))).toBe(false);
    } finally {
      delete process.env.RUNNER_TOOL_CACHE;
      delete process.env.RUNNER_TEMP;
    }
  });

  it('loads a pre-provisioned MLGATE_NATIVE_DIR', async () => {
    const { loader } = loaderWith({
      MLGATE_NATIVE_DIR: installed,
      MLGATE_CACHE_DIR: join(scratch, 'unused'),
    });
    await loader.loadDuckDB();
    expect(loader.info().duckdb).toMatchObject({ route: 'MLGATE_NATIVE_DIR', directory: installed });
    expect(existsSync(join(scratch, 'unused'))).toBe(false);
  });

  it('refuses an MLGATE_NATIVE_DIR without the engines', async () => {
    const empty = join(scratch, 'empty');
    mkdirSync(empty);
    const { loader } = loaderWith({ MLGATE_NATIVE_DIR: empty });
    const error = await rejection(loader.loadDuckDB());
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(/^MLGATE_NATIVE_DIR: .*empty has no node_modules\/@duckdb\/node-api/);
  });

  it('refuses a tarball whose sha512 does not match the pin (EINTEGRITY)', async () => {
    const tampered = structuredClone(PINS) as NativePins;
    const entry = tampered.packages['node_modules/@duckdb/node-api'];
    const i = 20;
    const swapped = entry.integrity![i] === 'A' ? 'B' : 'A';
    entry.integrity = entry.integrity!.slice(0, i) + swapped + entry.integrity!.slice(i + 1);
    const tamperedCache = join(scratch, 'tampered');
    const { loader, said } = loaderWith({ MLGATE_CACHE_DIR: tamperedCache }, { pins: tampered });

    const error = await rejection(loader.loadDuckDB());
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain(
      `Could not install the native engines (${describePins()}) for linux-x64: ` +
        'a downloaded package did not match the sha512 checksum pinned in mlgate (EINTEGRITY).',
    );
    expect(error.message).toMatch(/npm said:\n.*EINTEGRITY/);
    expect(error.message).toContain('MLGATE_NATIVE_DIR');
    expect(error.message).toContain('actions/cache');
    expect(said().some((m) => m.startsWith('Installing'))).toBe(true);
    // Nothing half-installed is left where a later run would look.
    expect(existsSync(join(tamperedCache, 'native', pinsVersionKey(tampered), 'linux-x64'))).toBe(false);
  });
});
