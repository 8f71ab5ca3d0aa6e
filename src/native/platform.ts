import { ConfigurationError } from '../errors.js';

export type Libc = 'glibc' | 'musl';

/** A platform where both native engines ship prebuilt binaries. */
export interface NativeTarget {
  /** `<platform>-<arch>`: names the install in the cache and in the report. */
  key: NativeTargetKey;
  platform: NodeJS.Platform;
  arch: string;
  /** Only on Linux: the binaries npm installs are linked against glibc. */
  libc?: Libc;
  /** The optional dependency of @duckdb/node-bindings that holds this platform's binary. */
  duckdbBindingPackage: string;
  /** Where onnxruntime-node keeps this platform's binaries, relative to its package folder. */
  onnxruntimeBinDir: string;
  /** Files (relative to node_modules, `/`-separated) an install must contain to be usable here. */
  expectedFiles: string[];
  /** GitHub-hosted runner labels that run on this platform, for the docs and messages. */
  runners: string[];
}

export type NativeTargetKey = 'linux-x64' | 'linux-arm64' | 'darwin-arm64' | 'win32-x64' | 'win32-arm64';

interface TargetSpec {
  key: NativeTargetKey;
  platform: NodeJS.Platform;
  arch: string;
  libc?: Libc;
  onnxruntimeFiles: string[];
  duckdbFiles: string[];
  runners: string[];
}

// The intersection of onnxruntime-node's bin/napi-v6/<platform>/<arch> folders and the
// @duckdb/node-bindings-* optional dependencies (test/native-platform.test.ts checks both against the
// installed packages). onnxruntime-node ships no darwin/x64 and no musl build, so those DuckDB bindings
// are of no use to us.
const SPECS: readonly TargetSpec[] = [
  {
    key: 'linux-x64',
    platform: 'linux',
    arch: 'x64',
    libc: 'glibc',
    onnxruntimeFiles: ['onnxruntime_binding.node', 'libonnxruntime.so.1'],
    duckdbFiles: ['duckdb.node', 'libduckdb.so'],
    runners: ['ubuntu-latest', 'ubuntu-24.04', 'ubuntu-22.04'],
  },
  {
    key: 'linux-arm64',
    platform: 'linux',
    arch: 'arm64',
    libc: 'glibc',
    onnxruntimeFiles: ['onnxruntime_binding.node', 'libonnxruntime.so.1'],
    duckdbFiles: ['duckdb.node', 'libduckdb.so'],
    runners: ['ubuntu-24.04-arm', 'ubuntu-22.04-arm'],
  },
  {
    key: 'darwin-arm64',
    platform: 'darwin',
    arch: 'arm64',
    onnxruntimeFiles: ['onnxruntime_binding.node', 'libonnxruntime.1.dylib'],
    duckdbFiles: ['duckdb.node', 'libduckdb.dylib'],
    runners: ['macos-latest', 'macos-15', 'macos-14'],
  },
  {
    key: 'win32-x64',
    platform: 'win32',
    arch: 'x64',
    onnxruntimeFiles: ['onnxruntime_binding.node', 'onnxruntime.dll'],
    duckdbFiles: ['duckdb.node', 'duckdb.dll'],
    runners: ['windows-latest', 'windows-2025', 'windows-2022'],
  },
  {
    key: 'win32-arm64',
    platform: 'win32',
    arch: 'arm64',
    onnxruntimeFiles: ['onnxruntime_binding.node', 'onnxruntime.dll'],
    duckdbFiles: ['duckdb.node', 'duckdb.dll'],
    runners: ['windows-11-arm'],
  },
];

function toTarget(spec: TargetSpec): NativeTarget {
  const duckdbBindingPackage = `@duckdb/node-bindings-${spec.platform}-${spec.arch}`;
  const onnxruntimeBinDir = `bin/napi-v6/${spec.platform}/${spec.arch}`;
  return {
    key: spec.key,
    platform: spec.platform,
    arch: spec.arch,
    ...(spec.libc ? { libc: spec.libc } : {}),
    duckdbBindingPackage,
    onnxruntimeBinDir,
    expectedFiles: [
      'onnxruntime-node/dist/index.js',
      ...spec.onnxruntimeFiles.map((f) => `onnxruntime-node/${onnxruntimeBinDir}/${f}`),
      '@duckdb/node-api/lib/index.js',
      '@duckdb/node-bindings/duckdb.js',
      ...spec.duckdbFiles.map((f) => `${duckdbBindingPackage}/${f}`),
    ],
    runners: [...spec.runners],
  };
}

/** Every platform mlgate's native engines run on. */
export const SUPPORTED_TARGETS: readonly NativeTarget[] = SPECS.map(toTarget);

function describeTarget(t: Pick<NativeTarget, 'key' | 'libc'>): string {
  return t.libc ? `${t.key} (${t.libc})` : t.key;
}

/** Picks the binaries for a platform, or says which platforms are supported. */
export function nativeTarget(platform: NodeJS.Platform, arch: string, libc?: Libc): NativeTarget {
  const spec = SPECS.find((s) => s.platform === platform && s.arch === arch);
  // Node reports no libc off Linux; on Linux an undetected libc is taken to be glibc, as npm does.
  const effectiveLibc = platform === 'linux' ? (libc ?? 'glibc') : undefined;
  if (spec && spec.libc === effectiveLibc) return toTarget(spec);

  const asked = describeTarget({ key: `${platform}-${arch}` as NativeTargetKey, libc: effectiveLibc });
  const supported = SPECS.map((s) => describeTarget(s)).join(', ');
  let why = '';
  if (effectiveLibc === 'musl') {
    why = ' onnxruntime-node ships glibc builds only (use a Debian/Ubuntu-based image instead of Alpine).';
  } else if (platform === 'darwin' && arch === 'x64') {
    why =
      ' the pinned onnxruntime-node ships no Intel macOS build (use an Apple Silicon runner such as macos-latest).';
  }
  throw new ConfigurationError(
    `mlgate's native engines (onnxruntime-node, DuckDB) have no build for ${asked}.${why} Supported platforms: ${supported}.`,
  );
}

/** glibc or musl on Linux, from Node's own diagnostic report (no child process); undefined elsewhere. */
export function detectLibc(): Libc | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const report = process.report?.getReport() as
      | { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] }
      | undefined;
    if (report?.header?.glibcVersionRuntime) return 'glibc';
    // musl reports no runtime version; its loader shows up among the process's shared objects instead.
    if (report?.sharedObjects?.some((so) => /(ld|libc)[.-]musl/.test(so))) return 'musl';
  } catch {
    // A report can be disabled by policy; npm then falls back to glibc too.
  }
  return undefined;
}

/** The target for the running process. */
export function currentNativeTarget(): NativeTarget {
  return nativeTarget(process.platform, process.arch, detectLibc());
}
