import { ConfigurationError } from '../errors.js';
import { expandPaths } from '../runtime/inputs.js';

export type DataFormat = 'csv' | 'tsv' | 'parquet';

export interface DataFile {
  path: string;
  format: DataFormat;
  gzip: boolean;
}

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
export function expandDataInput(spec: string[], input = 'data'): DataFile[] {
  if (spec.length === 0)
    throw new ConfigurationError(
      'no data file given: set it to a CSV/TSV/Parquet path or glob',
      `input "${input}"`,
    );
  return expandPaths(spec, input).map((path) => ({ path, ...formatOf(path) }));
}
