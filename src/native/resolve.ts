import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve as resolvePath } from 'node:path';
import * as tc from '@actions/tool-cache';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import { describePins, installManifests, type NativePins, PINS, pinsVersionKey } from './pins.js';
import { currentNativeTarget, type NativeTarget } from './platform.js';

export type OnnxRuntime = typeof import('onnxruntime-node');
export type DuckDB = typeof import('@duckdb/node-api');

/**
 * How an engine was found: the ordinary module resolution, the pre-provisioned MLGATE_NATIVE_DIR, an
 * earlier install in the runner's tool cache or mlgate's own cache, or an install made just now.
 */
export type NativeRoute = 'node_modules' | 'MLGATE_NATIVE_DIR' | 'tool-cache' | 'cache' | 'install';

export interface NativeEngineInfo {
  package: 'onnxruntime-node' | '@duckdb/node-api';
  /** The package's version; undefined only where node_modules hid it. */
  version?: string;
  route: NativeRoute;
  /** The directory holding node_modules/, for every route but node_modules. */
  directory?: string;
}

/** For the report's environment section: only the engines this process loaded appear. */
export interface NativeEnginesInfo {
  platform: string;
  onnxruntime?: NativeEngineInfo;
  duckdb?: NativeEngineInfo;
}

export interface NativeLoaderOptions {
  /**
   * Defaults to process.env; read when an engine is first loaded. RUNNER_TOOL_CACHE and RUNNER_TEMP always
   * come from process.env, where @actions/tool-cache reads them.
   */
  env?: NodeJS.ProcessEnv;
  pins?: NativePins;
  target?: NativeTarget;
  /**
   * Skip the ordinary module resolution (env MLGATE_NATIVE_IGNORE_NODE_MODULES=1), so that a dev checkout
   * exercises the route the bundled action takes on a runner.
   */
  ignoreNodeModules?: boolean;
  /** Extra arguments for `npm ci`. */
  npmArgs?: string[];
  /** Kills a hung npm; default 10 minutes. */
  npmTimeoutMs?: number;
}

type EngineName = 'onnxruntime' | 'duckdb';

const ENGINES = {
  onnxruntime: {
    package: 'onnxruntime-node',
    // webpackIgnore keeps this a runtime import() in the ncc bundle: as a bundler external it would be
    // hoisted into a static import, and the bundle would die at startup where node_modules is absent.
    importFromNodeModules: () => import(/* webpackIgnore: true */ 'onnxruntime-node'),
  },
  duckdb: {
    package: '@duckdb/node-api',
    importFromNodeModules: () => import(/* webpackIgnore: true */ '@duckdb/node-api'),
  },
} as const;

const TOOL_NAME = 'mlgate-native';
const MARKER_FILE = 'mlgate-native.json';
const STDERR_TAIL_LINES = 25;

interface Provisioned {
  route: Exclude<NativeRoute, 'node_modules'>;
  dir: string;
}

interface Marker {
  pinsHash: string;
  target: string;
  packages: Record<string, string>;
}

/** Finds (and if need be installs) the native engines once per loader; see docs/native-engines.md. */
export class NativeLoader {
  readonly #logger: Logger;
  readonly #options: NativeLoaderOptions;
  readonly #loaded = new Map<EngineName, Promise<unknown>>();
  #provisioned?: Promise<Provisioned>;
  readonly #info: NativeEnginesInfo = { platform: `${process.platform}-${process.arch}` };

  constructor(logger: Logger, options: NativeLoaderOptions = {}) {
    this.#logger = logger;
    this.#options = options;
  }

  loadOnnxRuntime(): Promise<OnnxRuntime> {
    return this.#load('onnxruntime') as Promise<OnnxRuntime>;
  }

  loadDuckDB(): Promise<DuckDB> {
    return this.#load('duckdb') as Promise<DuckDB>;
  }

  info(): NativeEnginesInfo {
    return structuredClone(this.#info);
  }

  get #env(): NodeJS.ProcessEnv {
    return this.#options.env ?? process.env;
  }

  get #pins(): NativePins {
    return this.#options.pins ?? PINS;
  }

  #target(): NativeTarget {
    return this.#options.target ?? currentNativeTarget();
  }

  #load(engine: EngineName): Promise<unknown> {
    let loading = this.#loaded.get(engine);
    if (!loading) {
      loading = this.#resolve(engine);
      this.#loaded.set(engine, loading);
    }
    return loading;
  }

  async #resolve(engine: EngineName): Promise<unknown> {
    const { package: pkg, importFromNodeModules } = ENGINES[engine];
    const ignoreNodeModules =
      this.#options.ignoreNodeModules ?? this.#env.MLGATE_NATIVE_IGNORE_NODE_MODULES === '1';
    if (!ignoreNodeModules) {
      try {
        const imported = (await importFromNodeModules()) as { default?: unknown };
        // Both packages are CommonJS: the namespace's default is the whole exports object.
        const mod = imported.default ?? imported;
        this.#info[engine] = { package: pkg, version: versionInNodeModules(pkg), route: 'node_modules' };
        this.#logger.debug(`${pkg} loaded from node_modules`);
        return mod;
      } catch (e) {
        if (isModuleNotFound(e, pkg)) {
          this.#logger.debug(`${pkg} is not in node_modules; using the pinned install`);
        } else {
          this.#logger.warning(
            `${pkg} from node_modules failed to load (${message(e)}); using the pinned install`,
          );
        }
      }
    }

    this.#provisioned ??= this.#provision();
    const { route, dir } = await this.#provisioned;
    const packageJson = join(dir, 'node_modules', ...pkg.split('/'), 'package.json');
    if (!existsSync(packageJson)) {
      // Only MLGATE_NATIVE_DIR can lack a package: mlgate's own installs are verified before use.
      throw new ConfigurationError(
        `${dir} has no node_modules/${pkg}. Provision it with \`npm ci --omit=dev --ignore-scripts\` ` +
          `(${describePins(this.#pins)}; see docs/native-engines.md) or unset MLGATE_NATIVE_DIR.`,
        'MLGATE_NATIVE_DIR',
      );
    }
    const version = readVersion(packageJson);
    const pinned = this.#pins.roots[pkg];
    if (version !== pinned) {
      this.#logger.warning(`${pkg} in ${dir} is ${version}; mlgate is tested with ${pinned}`);
    }
    let mod: unknown;
    try {
      mod = createRequire(join(dir, 'package.json'))(pkg);
    } catch (e) {
      throw new ConfigurationError(
        `${pkg} ${version} in ${dir} failed to load on ${this.#info.platform}: ${message(e)}`,
        route === 'MLGATE_NATIVE_DIR' ? 'MLGATE_NATIVE_DIR' : undefined,
      );
    }
    this.#info[engine] = { package: pkg, version, route, directory: dir };
    this.#logger.info(`${pkg} ${version} loaded from ${dir} (${route})`);
    return mod;
  }

  async #provision(): Promise<Provisioned> {
    const env = this.#env;
    // Absolute, because createRequire takes nothing else.
    if (env.MLGATE_NATIVE_DIR) return { route: 'MLGATE_NATIVE_DIR', dir: resolvePath(env.MLGATE_NATIVE_DIR) };

    const target = this.#target();
    const pins = this.#pins;
    const version = pinsVersionKey(pins);
    // @actions/tool-cache reads RUNNER_TOOL_CACHE from process.env itself, so that is where we look too.
    const toolCache = process.env.RUNNER_TOOL_CACHE;
    if (toolCache) {
      const found = tc.find(TOOL_NAME, version, target.arch);
      if (found && this.#usable(found, target)) return { route: 'tool-cache', dir: found };
      return this.#install(target, 'tool-cache', join(toolCache, TOOL_NAME, version, target.arch));
    }
    const cached = join(cacheRoot(env), 'native', version, target.key);
    if (this.#usable(cached, target)) return { route: 'cache', dir: cached };
    return this.#install(target, 'cache', cached);
  }

  /** An install is usable when it was made from these pins, for this platform, and is complete. */
  #usable(dir: string, target: NativeTarget, warn = true): boolean {
    let marker: Marker;
    try {
      marker = JSON.parse(readFileSync(join(dir, MARKER_FILE), 'utf8')) as Marker;
    } catch {
      return false;
    }
    const missing = target.expectedFiles.filter((f) => !existsSync(join(dir, 'node_modules', f)));
    if (marker.pinsHash === this.#pins.hash && marker.target === target.key && missing.length === 0) {
      return true;
    }
    if (warn)
      this.#logger.warning(`Ignoring the incomplete native engines install in ${dir}; installing again`);
    return false;
  }

  async #install(
    target: NativeTarget,
    into: 'tool-cache' | 'cache',
    destination: string,
  ): Promise<Provisioned> {
    const pins = this.#pins;
    const env = this.#env;
    const what = `native engines (${describePins(pins)})`;
    this.#logger.info(`Installing ${what} into the ${into === 'tool-cache' ? 'tool cache' : 'cache'} ...`);
    const started = performance.now();
    const manifests = installManifests(target, pins);
    const npm = locateNpm(env);
    // Staged beside the destination so that the final move is a rename on one filesystem.
    const stagingParent =
      into === 'tool-cache' ? (process.env.RUNNER_TEMP ?? tmpdir()) : dirname(destination);
    await mkdir(stagingParent, { recursive: true });
    const staging = await mkdtemp(join(stagingParent, '.mlgate-native-'));
    await writeFile(join(staging, 'package.json'), `${JSON.stringify(manifests.packageJson, null, 2)}\n`);
    await writeFile(
      join(staging, 'package-lock.json'),
      `${JSON.stringify(manifests.packageLock, null, 2)}\n`,
    );

    const args = [
      ...npm.args,
      'ci',
      '--omit=dev',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--no-bin-links',
      '--no-progress',
      // Every tarball is pinned by its sha512, so a cached copy is as good as a fresh one.
      '--prefer-offline',
      ...(this.#options.npmArgs ?? []),
    ];
    this.#logger.debug(`${npm.command} ${args.join(' ')} (in ${staging})`);
    const npmStarted = performance.now();
    const result = await run(npm.command, args, {
      cwd: staging,
      env: npmEnv(env),
      timeoutMs: this.#options.npmTimeoutMs ?? 10 * 60_000,
    });
    const npmSeconds = seconds(npmStarted);
    for (const line of result.output) this.#logger.debug(`npm: ${line}`);
    if (result.error || result.code !== 0) {
      await rm(join(staging, 'node_modules'), { recursive: true, force: true });
      throw installError(what, target, result, staging);
    }
    this.#logger.info(`npm ci finished in ${npmSeconds.toFixed(1)} s`);

    const missing = target.expectedFiles.filter((f) => !existsSync(join(staging, 'node_modules', f)));
    if (missing.length > 0) {
      await rm(staging, { recursive: true, force: true });
      throw new ConfigurationError(
        `npm installed the ${what} but these ${target.key} files are missing: ${missing.join(', ')}.`,
      );
    }
    const pruned = await pruneOtherPlatforms(join(staging, 'node_modules', 'onnxruntime-node'), target);
    this.#logger.debug(`Removed onnxruntime-node binaries for ${pruned.join(', ') || 'no other platform'}`);
    const marker: Marker = { pinsHash: pins.hash, target: target.key, packages: { ...pins.roots } };
    await writeFile(join(staging, MARKER_FILE), `${JSON.stringify(marker, null, 2)}\n`);

    let dir: string;
    if (into === 'tool-cache') {
      dir = await tc.cacheDir(staging, TOOL_NAME, pinsVersionKey(pins), target.arch);
      await rm(staging, { recursive: true, force: true });
    } else {
      dir = await moveIntoPlace(staging, destination, (d) => this.#usable(d, target, false));
    }
    this.#logger.info(`Installed the ${what} in ${seconds(started).toFixed(1)} s: ${dir}`);
    return { route: 'install', dir };
  }
}

let defaultLoader: NativeLoader | undefined;

function loader(logger: Logger): NativeLoader {
  defaultLoader ??= new NativeLoader(logger);
  return defaultLoader;
}

/** onnxruntime-node, found or installed once per process (the first caller's logger reports it). */
export function loadOnnxRuntime(logger: Logger): Promise<OnnxRuntime> {
  return loader(logger).loadOnnxRuntime();
}

/** @duckdb/node-api, found or installed once per process (the first caller's logger reports it). */
export function loadDuckDB(logger: Logger): Promise<DuckDB> {
  return loader(logger).loadDuckDB();
}

/** Which engines this process loaded, their versions, and where from. */
export function nativeEnginesInfo(): NativeEnginesInfo {
  return defaultLoader?.info() ?? { platform: `${process.platform}-${process.arch}` };
}

/** mlgate's cache: MLGATE_CACHE_DIR, else the XDG cache directory. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MLGATE_CACHE_DIR) return env.MLGATE_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mlgate');
}

/** The version of the package that import() found, resolved the same way from this file. */
function versionInNodeModules(pkg: string): string | undefined {
  try {
    // A URL object rather than the bare import.meta.url, which the bundler would take over as its own require.
    return readVersion(createRequire(new URL(import.meta.url)).resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

function readVersion(packageJson: string): string {
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

function isModuleNotFound(e: unknown, pkg: string): boolean {
  const code = (e as { code?: string }).code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message(e).includes(`'${pkg}'`);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}

interface NpmCommand {
  command: string;
  args: string[];
}

/**
 * npm-cli.js run by this very node, so that no shell and no `npm.cmd` is involved: first the npm that
 * ships beside node, then one on PATH.
 */
export function locateNpm(env: NodeJS.ProcessEnv = process.env): NpmCommand {
  const cliIn = (binDir: string) => [
    join(binDir, 'node_modules', 'npm', 'bin', 'npm-cli.js'), // Windows layout: npm beside node.exe
    join(binDir, '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'), // Unix layout
  ];
  const pathDirs = (env.PATH ?? env.Path ?? '').split(delimiter).filter(Boolean);
  for (const dir of [dirname(process.execPath), ...pathDirs]) {
    const cli = cliIn(dir).find((c) => existsSync(c));
    if (cli) return { command: process.execPath, args: [cli] };
  }
  if (process.platform !== 'win32' && pathDirs.some((d) => existsSync(join(d, 'npm')))) {
    return { command: 'npm', args: [] };
  }
  throw new ConfigurationError(
    `No npm found beside ${process.execPath} or on PATH, so mlgate cannot install its native engines. ` +
      PROVISION_HINT,
  );
}

const PROVISION_HINT =
  'Pre-provision them instead: set MLGATE_NATIVE_DIR to a directory whose node_modules holds them, or restore ' +
  "mlgate's native cache with actions/cache (see docs/native-engines.md).";

// Settings that npm exports to scripts it runs (`npx mlgate`, `npm run`) and that would change what or
// where this install writes. Registry, proxy and certificate settings pass through on purpose.
const NPM_ENV_DROPPED = new Set([
  'npm_config_global',
  'npm_config_prefix',
  'npm_config_local_prefix',
  'npm_config_dry_run',
  'npm_config_omit',
  'npm_config_include',
  'npm_config_production',
  'npm_config_only',
  'npm_config_workspace',
  'npm_config_workspaces',
  'npm_config_install_strategy',
  'npm_config_package_lock',
  'npm_config_package_lock_only',
  'npm_config_offline',
  'npm_config_save',
]);

function npmEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (!NPM_ENV_DROPPED.has(k.toLowerCase())) out[k] = v;
  }
  // onnxruntime-node's install script would fetch CUDA libraries from outside the registry; scripts are
  // off anyway (--ignore-scripts), this keeps it so if someone turns them on.
  out.ONNXRUNTIME_NODE_INSTALL = 'skip';
  out.npm_config_update_notifier = 'false';
  return out;
}

interface RunResult {
  code: number | null;
  error?: Error;
  timedOut: boolean;
  /** Every line npm printed, stdout and stderr together. */
  output: string[];
  stderrTail: string[];
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const output: string[] = [];
    const stderrTail: string[] = [];
    let timedOut = false;
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const collect = (isStderr: boolean) => {
      let partial = '';
      return (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split(/\r?\n/);
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          output.push(line);
          if (isStderr) {
            stderrTail.push(line);
            if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
          }
        }
      };
    };
    child.stdout.on('data', collect(false));
    child.stderr.on('data', collect(true));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill();
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, error, timedOut, output, stderrTail });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, output, stderrTail });
    });
  });
}

function installError(
  what: string,
  target: NativeTarget,
  result: RunResult,
  staging: string,
): ConfigurationError {
  const tail = result.stderrTail.filter((l) => !/Unknown (user|project|env) config/.test(l));
  const said = tail.join('\n');
  let why: string;
  if (result.error) why = `npm could not be started (${result.error.message})`;
  else if (result.timedOut) why = 'npm ci did not finish in time';
  else if (/EINTEGRITY/.test(said)) {
    why = 'a downloaded package did not match the sha512 checksum pinned in mlgate (EINTEGRITY)';
  } else if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|network/i.test(said)) {
    why = 'the npm registry could not be reached';
  } else why = `npm ci exited with code ${result.code}`;
  return new ConfigurationError(
    [
      `Could not install the ${what} for ${target.key}: ${why}.`,
      ...(tail.length > 0 ? ['npm said:', ...tail.map((l) => `  ${l}`)] : []),
      `${PROVISION_HINT} The package.json and package-lock.json mlgate tried to install are in ${staging}: ` +
        '`npm ci --omit=dev --ignore-scripts` there, on a machine with registry access and the same OS and CPU, ' +
        'makes a directory for MLGATE_NATIVE_DIR.',
    ].join('\n'),
  );
}

/** onnxruntime-node ships every platform's binaries (~300 MB); the cache keeps only ours. */
async function pruneOtherPlatforms(onnxruntimeDir: string, target: NativeTarget): Promise<string[]> {
  const binRoot = join(onnxruntimeDir, 'bin', 'napi-v6');
  const pruned: string[] = [];
  for (const platform of await readdir(binRoot)) {
    for (const arch of await readdir(join(binRoot, platform))) {
      if (platform === target.platform && arch === target.arch) continue;
      await rm(join(binRoot, platform, arch), { recursive: true, force: true });
      pruned.push(`${platform}/${arch}`);
    }
    if ((await readdir(join(binRoot, platform))).length === 0)
      await rm(join(binRoot, platform), { recursive: true });
  }
  return pruned;
}

/**
 * Renames the finished install into place. When another process finished first, its install is kept (it
 * may be loading from it) and ours is dropped.
 */
async function moveIntoPlace(
  staging: string,
  destination: string,
  isUsable: (dir: string) => boolean,
): Promise<string> {
  const keepTheirs = async () => {
    await rm(staging, { recursive: true, force: true });
    return destination;
  };
  if (isUsable(destination)) return keepTheirs();
  await mkdir(dirname(destination), { recursive: true });
  // A leftover that failed the usability check would block the rename.
  await rm(destination, { recursive: true, force: true });
  try {
    await rename(staging, destination);
    return destination;
  } catch (e) {
    if (isUsable(destination)) return keepTheirs();
    // Windows refuses to rename a folder while a virus scanner holds one of its files: copy instead.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EBUSY' && code !== 'EACCES') throw e;
  }
  await cp(staging, destination, { recursive: true });
  await rm(staging, { recursive: true, force: true });
  return destination;
}
