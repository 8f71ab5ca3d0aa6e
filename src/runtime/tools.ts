/**
 * External tools (kubectl, helm, a vulnerability scanner): found on PATH or downloaded, checksum-verified
 * before they are made executable, and always run with an argument array, never through a shell.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import * as tc from '@actions/tool-cache';
import { ConfigurationError } from '../errors.js';

export interface RunToolOptions {
  /** The environment of the tool; the runner's own when unset. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs a tool with an argument array (never a shell) and returns its stdout. What it printed on stderr
 * becomes the error: kubectl, helm and the scanners say there what went wrong, and never print credentials.
 */
export function runTool(
  command: string,
  args: string[],
  timeoutMs: number,
  options: RunToolOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, windowsHide: true, env: options.env },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const code = (error as NodeJS.ErrnoException).code;
        const shown = displayCommand(basename(command), args);
        if (code === 'ENOENT' || code === 'EACCES') {
          reject(
            new ConfigurationError(`${command} could not be run (${code}): install it or give its path`),
          );
        } else if (error.killed) {
          reject(
            new ConfigurationError(`\`${shown}\` did not finish within ${Math.round(timeoutMs / 1000)} s`),
          );
        } else {
          const said = (stderr || stdout).trim().split(/\r?\n/).filter(Boolean).slice(-3).join(' / ');
          reject(new ConfigurationError(`\`${shown}\` failed: ${said || `exit code ${error.code}`}`));
        }
      },
    );
  });
}

/** The command as a shell would need it, for people to read; it is never run through a shell. */
export function displayCommand(command: string, args: string[]): string {
  return [command, ...args]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}

/** The first executable file of that name in a PATH directory. */
export function findOnPath(exe: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, exe);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here, or not executable: the next directory.
    }
  }
  return undefined;
}

export function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Downloads into the runner's temp directory; `input` names the input that chose the URL, for the error. */
export async function download(url: string, input: string): Promise<string> {
  try {
    return await tc.downloadTool(url);
  } catch (e) {
    const status = e instanceof tc.HTTPError ? `HTTP ${e.httpStatusCode}` : (e as Error).message;
    throw new ConfigurationError(`could not download ${url} (${status})`, input);
  }
}
