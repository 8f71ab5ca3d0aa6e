/** What the benchmarks share: the reference Python, running the built CLI, and the figures table. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const PYTHON = '/usr/bin/python3';

export function argValue(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) || fallback : fallback;
}

/** Runs a generator script once; its outputs are kept in bench/data/ (git-ignored) for later runs. */
export function ensureGenerated(dir: string, files: string[], script: string, args: string[]) {
  if (files.every((f) => existsSync(join(dir, f)))) return;
  mkdirSync(dir, { recursive: true });
  console.log(`generating ${dir} ...`);
  execFileSync(PYTHON, [script, ...args, '--out', dir], { stdio: 'inherit' });
}

export function ensureBuilt() {
  if (!existsSync('cli/dist/index.js')) execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
}

/** `mlgate <command> ...` as a user runs it; returns the wall time and the JSON report. */
export function mlgate(command: string, args: string[], reportPath: string) {
  const started = performance.now();
  const run = spawnSync(
    process.execPath,
    ['cli/dist/index.js', command, ...args, '--report-path', reportPath],
    { encoding: 'utf8' },
  );
  if (run.status !== 0 && run.status !== 1) throw new Error(`mlgate ${command} failed: ${run.stderr}`);
  return { wall: (performance.now() - started) / 1000, report: JSON.parse(readFileSync(reportPath, 'utf8')) };
}

export function python<T>(script: string, args: string[]): T {
  const out = execFileSync(PYTHON, [script, ...args], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

export const fmt = (x: number, digits = 2) => x.toFixed(digits);

export function printTable(lines: (string | number)[][]) {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  for (const l of lines) console.log(l.map((c, i) => String(c).padEnd(widths[i])).join('  '));
}

/** Median of three runs: a shared 2-core machine is noisy. */
export function median3<T extends { seconds: number }>(run: () => T): { median: T; all: T[] } {
  const all = [run(), run(), run()].sort((a, b) => a.seconds - b.seconds);
  return { median: all[1], all };
}
