import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import { detectLibc, nativeTarget, SUPPORTED_TARGETS } from '../src/native/platform.js';

const nodeModules = join(import.meta.dirname, '..', 'node_modules');

describe('nativeTarget', () => {
  it.each([
    ['ubuntu-latest', 'linux', 'x64', 'glibc', 'linux-x64'],
    ['ubuntu-24.04-arm', 'linux', 'arm64', 'glibc', 'linux-arm64'],
    ['macos-latest', 'darwin', 'arm64', undefined, 'darwin-arm64'],
    ['windows-latest', 'win32', 'x64', undefined, 'win32-x64'],
    ['windows-11-arm', 'win32', 'arm64', undefined, 'win32-arm64'],
  ] as const)('picks the binaries for %s (%s %s)', (runner, platform, arch, libc, key) => {
    const target = nativeTarget(platform, arch, libc);
    expect(target.key).toBe(key);
    expect(target.runners).toContain(runner);
    expect(target.duckdbBindingPackage).toBe(`@duckdb/node-bindings-${platform}-${arch}`);
    expect(target.onnxruntimeBinDir).toBe(`bin/napi-v6/${platform}/${arch}`);
    expect(target.expectedFiles).toContain(
      `onnxruntime-node/bin/napi-v6/${platform}/${arch}/onnxruntime_binding.node`,
    );
    expect(target.expectedFiles).toContain(`@duckdb/node-bindings-${platform}-${arch}/duckdb.node`);
  });

  it('takes an undetected libc on Linux to be glibc, as npm does', () => {
    expect(nativeTarget('linux', 'x64').key).toBe('linux-x64');
  });

  it.each([
    ['linux', 'x64', 'musl', /linux-x64 \(musl\).*glibc builds only/],
    ['darwin', 'x64', undefined, /darwin-x64.*no Intel macOS build/],
    ['freebsd', 'x64', undefined, /freebsd-x64/],
    ['linux', 'ia32', 'glibc', /linux-ia32/],
  ] as const)('refuses %s-%s (%s), listing the supported platforms', (platform, arch, libc, why) => {
    let error: unknown;
    try {
      nativeTarget(platform, arch, libc);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    const message = (error as Error).message;
    expect(message).toMatch(why);
    expect(message).toContain(
      'Supported platforms: linux-x64 (glibc), linux-arm64 (glibc), darwin-arm64, win32-x64, win32-arm64.',
    );
  });

  it('detects the libc of this machine on Linux only', () => {
    const libc = detectLibc();
    if (process.platform === 'linux') expect(['glibc', 'musl']).toContain(libc);
    else expect(libc).toBeUndefined();
  });
});

// The table in platform.ts is written by hand; these hold it to the packages in the lockfile.
describe('the supported platforms', () => {
  const duckdbOptional = Object.keys(
    (
      JSON.parse(readFileSync(join(nodeModules, '@duckdb', 'node-bindings', 'package.json'), 'utf8')) as {
        optionalDependencies: Record<string, string>;
      }
    ).optionalDependencies,
  );

  it.each(SUPPORTED_TARGETS.map((t) => [t.key, t] as const))('%s has both engines', (_key, target) => {
    expect(duckdbOptional).toContain(target.duckdbBindingPackage);
    // onnxruntime-node's tarball carries every platform's binaries, so the dev install can be checked.
    for (const file of target.expectedFiles.filter((f) => f.startsWith('onnxruntime-node/'))) {
      expect(existsSync(join(nodeModules, file)), file).toBe(true);
    }
  });

  it('include every glibc/macOS/Windows platform both packages ship', () => {
    const binRoot = join(nodeModules, 'onnxruntime-node', 'bin', 'napi-v6');
    const onnxruntime = readdirSync(binRoot).flatMap((p) =>
      readdirSync(join(binRoot, p)).map((a) => `${p}-${a}`),
    );
    const duckdb = duckdbOptional
      .map((p) => p.replace('@duckdb/node-bindings-', ''))
      .filter((k) => !k.endsWith('-musl'));
    const both = onnxruntime.filter((k) => duckdb.includes(k)).sort();
    expect(SUPPORTED_TARGETS.map((t) => t.key).sort()).toEqual(both);
  });
});
