/**
 * Installs the vulnerability scanner the way a supply-chain-conscious team would by hand: a pinned
 * release, its checksum checked before the archive is even unpacked, the binary asked for its version
 * before it scans anything, and the result kept in the runner's tool cache for later steps.
 *
 * Two checks, because one is not enough: the archive must match the release's own checksums file, and
 * for the versions pinned here that file's entry must match the digest recorded in this source. A
 * hijacked release tag (it happened to one of these scanners in 2026) can replace both the archive and
 * the checksums file; it cannot change a digest compiled into this action.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tc from '@actions/tool-cache';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import { download, runTool, sha256Of } from '../runtime/tools.js';
import type { Scanner } from './reports.js';

interface ScannerRelease {
  defaultVersion: string;
  defaultBaseUrl: string;
  /** The release file for a platform, e.g. trivy_0.69.3_Linux-64bit.tar.gz. */
  asset(version: string, os: NodeJS.Platform, arch: string): string | undefined;
  checksums(version: string): string;
  /** The arguments that make the binary print its version. */
  versionArgs: string[];
  /** SHA-256 of release files, by version and file name, as published upstream and cross-checked. */
  pinned: Record<string, Record<string, string>>;
}

// Archive digests as upstream published them, cross-checked in several independent pins (Trivy 0.69.3 is
// the last release before the March 2026 tag hijack, GHSA-69fq-xp46-6x23).
export const RELEASES: Record<Scanner, ScannerRelease> = {
  trivy: {
    defaultVersion: '0.69.3',
    defaultBaseUrl: 'https://github.com/aquasecurity/trivy/releases/download',
    asset(version, os, arch) {
      const platform = (
        {
          'linux/x64': 'Linux-64bit',
          'linux/arm64': 'Linux-ARM64',
          'darwin/x64': 'macOS-64bit',
          'darwin/arm64': 'macOS-ARM64',
          'win32/x64': 'windows-64bit',
        } as Record<string, string>
      )[`${os}/${arch}`];
      if (!platform) return undefined;
      return `trivy_${version}_${platform}.${os === 'win32' ? 'zip' : 'tar.gz'}`;
    },
    checksums: (version) => `trivy_${version}_checksums.txt`,
    versionArgs: ['--version'],
    pinned: {
      '0.69.3': {
        'trivy_0.69.3_Linux-64bit.tar.gz': '1816b632dfe529869c740c0913e36bd1629cb7688bd5634f4a858c1d57c88b75',
        'trivy_0.69.3_Linux-ARM64.tar.gz': '7e3924a974e912e57b4a99f65ece7931f8079584dae12eb7845024f97087bdfd',
        'trivy_0.69.3_macOS-64bit.tar.gz': 'fec4a9f7569b624dd9d044fca019e5da69e032700edbb1d7318972c448ec2f4e',
        'trivy_0.69.3_macOS-ARM64.tar.gz': 'a2f2179afd4f8bb265ca3c7aefb56a666bc4a9a411663bc0f22c3549fbc643a5',
      },
    },
  },
  grype: {
    defaultVersion: '0.110.0',
    defaultBaseUrl: 'https://github.com/anchore/grype/releases/download',
    asset(version, os, arch) {
      const goos = ({ linux: 'linux', darwin: 'darwin', win32: 'windows' } as Record<string, string>)[os];
      const goarch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[arch];
      if (!goos || !goarch) return undefined;
      return `grype_${version}_${goos}_${goarch}.${os === 'win32' ? 'zip' : 'tar.gz'}`;
    },
    checksums: (version) => `grype_${version}_checksums.txt`,
    versionArgs: ['version'],
    pinned: {
      '0.110.0': {
        'grype_0.110.0_linux_amd64.tar.gz':
          'aaa98d27d2d7efd9317c6a1ad6d9b15f3e65bab320e7d03bde41e251387bb71c',
        'grype_0.110.0_linux_arm64.tar.gz':
          '804041ee69f119022e3e866741a558eae6f2df372a5dc1a5376d456d16f8c931',
        'grype_0.110.0_darwin_amd64.tar.gz':
          '61e767381c395b2fac9ed6016f45de39107761df75f094fc3d9b7822809d07df',
        'grype_0.110.0_darwin_arm64.tar.gz':
          '9aff01bfcb4510a1b803ef59375b43cd80764fa49aed71f9a3da81c417037411',
      },
    },
  },
};

export interface InstallOptions {
  scanner: Scanner;
  /** Empty: the pinned default. */
  version: string;
  /** Empty: the scanner's GitHub releases. */
  baseUrl: string;
  /** A binary already on the runner, used as it is. */
  path?: string;
  logger: Logger;
  /** Platform override, for tests. */
  platform?: { os: NodeJS.Platform; arch: string };
}

export interface InstalledScanner {
  scanner: Scanner;
  path: string;
  version: string;
  /** How the binary came to be trusted. */
  source: 'scanner-path' | 'tool-cache' | 'download';
  asset?: string;
  sha256?: string;
  /** true when the digest was checked against one recorded in mlgate, not only the release's own list. */
  pinned: boolean;
}

/** The scanner binary: the one given, else the cached install, else downloaded, verified and cached. */
export async function installScanner(options: InstallOptions): Promise<InstalledScanner> {
  const { scanner, logger } = options;
  const release = RELEASES[scanner];
  if (options.path) {
    const version = await reportedVersion(options.path, release.versionArgs);
    logger.info(`Using ${options.path} (${scanner} ${version || 'of unknown version'}), as given`);
    return { scanner, path: options.path, version, source: 'scanner-path', pinned: false };
  }
  const version = (options.version || release.defaultVersion).trim().replace(/^v/, '');
  if (!/^\d+\.\d+\.\d+$/.test(version))
    throw new ConfigurationError(
      `"${options.version}" is not a ${scanner} version like 1.2.3`,
      'input "scanner-version"',
    );
  useToolCacheOffRunner();

  const { os, arch } = options.platform ?? { os: process.platform, arch: process.arch };
  const asset = release.asset(version, os, arch);
  if (!asset)
    throw new ConfigurationError(
      `${scanner} publishes no release for ${os}/${arch}: install it and give its path in scanner-path`,
      'input "scanner"',
    );
  const exe = os === 'win32' ? `${scanner}.exe` : scanner;
  const pinnedDigest = release.pinned[version]?.[asset];

  const cached = tc.find(scanner, version, arch);
  if (cached) {
    const path = join(cached, exe);
    await expectVersion(path, release.versionArgs, version);
    logger.info(`Using ${scanner} ${version} from the tool cache (verified when it was installed)`);
    return {
      scanner,
      path,
      version,
      source: 'tool-cache',
      asset,
      sha256: pinnedDigest,
      pinned: !!pinnedDigest,
    };
  }

  const base = `${(options.baseUrl || release.defaultBaseUrl).replace(/\/+$/, '')}/v${version}`;
  const listed = await checksumOf(`${base}/${release.checksums(version)}`, asset);
  if (pinnedDigest && listed !== pinnedDigest) {
    throw new ConfigurationError(
      `the checksums file of ${scanner} ${version} at ${base} lists ${listed} for ${asset}, but mlgate pinned ${pinnedDigest}: the release or the mirror was altered; nothing was installed`,
      'input "scanner-download-url"',
    );
  }
  if (!pinnedDigest)
    logger.warning(
      `${scanner} ${version} is not pinned by this mlgate release: it is verified against its own checksums file only. Pin the default version (leave scanner-version empty) for a digest fixed in the action`,
    );

  logger.info(`Downloading ${asset} from ${base}`);
  const archive = await download(`${base}/${asset}`, 'input "scanner-download-url"');
  const actual = await sha256Of(archive);
  if (actual !== listed) {
    await rm(archive, { force: true });
    throw new ConfigurationError(
      `${asset} from ${base} has sha256 ${actual}, not ${listed} as its checksums file says: it was deleted, not unpacked or run`,
      'input "scanner-download-url"',
    );
  }
  const unpacked = asset.endsWith('.zip') ? await tc.extractZip(archive) : await tc.extractTar(archive);
  await rm(archive, { force: true });
  const binary = join(unpacked, exe);
  if (!(await stat(binary).catch(() => undefined))?.isFile()) {
    throw new ConfigurationError(
      `${asset} holds no ${exe} at its top level (it holds ${(await readdir(unpacked)).join(', ')})`,
      'input "scanner-download-url"',
    );
  }
  await expectVersion(binary, release.versionArgs, version);
  const dir = await tc.cacheDir(unpacked, scanner, version, arch);
  await rm(unpacked, { recursive: true, force: true });
  logger.info(
    `${scanner} ${version} verified (sha256 ${actual}${pinnedDigest ? ', pinned' : ''}) and cached`,
  );
  return {
    scanner,
    path: join(dir, exe),
    version,
    source: 'download',
    asset,
    sha256: actual,
    pinned: !!pinnedDigest,
  };
}

/**
 * Off a runner (the CLI on a laptop, another CI system) installs go to ~/.cache/mlgate: @actions/tool-cache
 * reads its directories from these variables and refuses to work without them.
 */
function useToolCacheOffRunner(): void {
  process.env.RUNNER_TOOL_CACHE ||= toolCacheRoot();
  process.env.RUNNER_TEMP ||= tmpdir();
}

/** The runner's tool cache, or ~/.cache/mlgate/tools off a runner: where the scanner and its database live. */
export function toolCacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return process.env.RUNNER_TOOL_CACHE || join(base, 'mlgate', 'tools');
}

/** The digest the release's checksums file (`<sha256>  <file>` lines) gives for one file. */
async function checksumOf(url: string, asset: string): Promise<string> {
  const file = await download(url, 'input "scanner-download-url"');
  const text = await readFile(file, 'utf8');
  await rm(file, { force: true });
  for (const line of text.split(/\r?\n/)) {
    const [digest, name] = line.trim().split(/\s+\*?/);
    if (name === asset && /^[0-9a-f]{64}$/i.test(digest)) return digest.toLowerCase();
  }
  throw new ConfigurationError(
    `${url} lists no sha256 for ${asset}: nothing was installed`,
    'input "scanner-download-url"',
  );
}

/** What the binary says its version is: the first x.y.z in its version output. */
async function reportedVersion(path: string, args: string[]): Promise<string> {
  const out = await runTool(path, args, 30_000);
  return /(\d+\.\d+\.\d+)/.exec(out)?.[1] ?? '';
}

/** A binary that does not say it is the version that was asked for is not run for a scan. */
async function expectVersion(path: string, args: string[], version: string): Promise<void> {
  const said = await reportedVersion(path, args);
  if (said !== version) {
    throw new ConfigurationError(
      `${path} reports version "${said}", not ${version}: refusing to scan with it`,
      'input "scanner-version"',
    );
  }
}
