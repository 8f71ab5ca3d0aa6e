import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigurationError } from '../errors.js';
import type { Engine } from './engine.js';

export type DataFormat = 'csv' | 'tsv' | 'parquet';

export interface DataFile {
  path: string;
  format: DataFormat;
  gzip: boolean;
}

const GLOB_CHARS = /[*?[{]/;

export function formatOf(path: string): { format: DataFormat; gzip: boolean } {
  const lower = path.toLowerCase();
  const gzip = lower.endsWith('.gz');
  const bare = gzip ? lower.slice(0, -3) : lower;
  if (bare.endsWith('.parquet') || bare.endsWith('.pq')) return { format: 'parquet', gzip: false };
  if (bare.endsWith('.tsv') || bare.endsWith('.tab')) return { format: 'tsv', gzip };
  return { format: 'csv', gzip };
}

/**
 * Expands the `data` input (paths, globs, one per line or comma-separated) into files, in the
 * order given and sorted within a glob, so that row numbers and reports are reproducible.
 */
export async function expandDataInput(spec: string[], engine: Engine, input = 'data'): Promise<DataFile[]> {
  if (spec.length === 0)
    throw new ConfigurationError(
      'no data file given: set it to a CSV/TSV/Parquet path or glob',
      `input "${input}"`,
    );
  const files: DataFile[] = [];
  for (const entry of spec) {
    const paths = GLOB_CHARS.test(entry) ? await engine.glob(resolve(entry)) : [resolve(entry)];
    if (paths.length === 0)
      throw new ConfigurationError(`the pattern "${entry}" matches no file`, `input "${input}"`);
    for (const path of paths.sort()) {
      if (!existsSync(path))
        throw new ConfigurationError(
          `file not found: ${entry}; check the path (relative paths are resolved from ${process.cwd()})`,
          `input "${input}"`,
        );
      if (!statSync(path).isFile())
        throw new ConfigurationError(`${entry} is not a file`, `input "${input}"`);
      if (!files.some((f) => f.path === path)) files.push({ path, ...formatOf(path) });
    }
  }
  return files;
}
