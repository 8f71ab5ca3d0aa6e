import type { ColumnRead } from '../data/engine.js';
import { ConfigurationError } from '../errors.js';
import type { ModelInfo, ValueInfo } from './onnx.js';

export type FeedType = 'float32' | 'float64' | 'int64' | 'text' | 'bool';

/** How one model input is fed: a matrix [N, F] of feature columns, or one column by name ([N, 1] or [N]). */
export interface InputFeed {
  input: string;
  columns: string[];
  as: FeedType;
  /** The ONNX element type, for the tensor we build. */
  tensorType: 'float32' | 'float64' | 'int64' | 'int32' | 'string' | 'bool';
  dims: 'matrix' | 'column' | 'vector';
}

const FEED_OF: Record<string, { as: FeedType; tensorType: InputFeed['tensorType'] }> = {
  float32: { as: 'float32', tensorType: 'float32' },
  float64: { as: 'float64', tensorType: 'float64' },
  int64: { as: 'int64', tensorType: 'int64' },
  int32: { as: 'int64', tensorType: 'int32' },
  string: { as: 'text', tensorType: 'string' },
  bool: { as: 'bool', tensorType: 'bool' },
};

export interface FeedOptions {
  /** The `feature-columns` input; default every column that is not the label or a slice column. */
  featureColumns?: string[];
  /** Columns that are never features. */
  exclude: string[];
  /** For error messages: `model` or `baseline-model`. */
  modelInput: string;
  file: string;
}

export function planFeeds(info: ModelInfo, header: string[], options: FeedOptions): InputFeed[] {
  const where = `input "${options.modelInput}"`;
  if (info.inputs.length === 0) throw new ConfigurationError('the model has no inputs to feed', where);
  // One [N, F] input takes the feature columns; inputs named after columns (skl2onnx pipelines) take one each.
  const single = info.inputs.length === 1 ? info.inputs[0] : undefined;
  if (single && (options.featureColumns || !header.includes(single.name) || width(single) !== 1)) {
    return [matrixFeed(single, header, options)];
  }
  const missing = info.inputs.filter((i) => !header.includes(i.name)).map((i) => i.name);
  if (missing.length > 0) {
    throw new ConfigurationError(
      `the model has ${info.inputs.length} inputs fed one column each by name, but ${options.file} has no column ${missing.map((m) => `"${m}"`).join(', ')} (columns: ${header.join(', ')})`,
      where,
    );
  }
  return info.inputs.map((i) => {
    const feed = feedType(i, where);
    return { input: i.name, columns: [i.name], ...feed, dims: rank(i) === 1 ? 'vector' : 'column' };
  });
}

function matrixFeed(input: ValueInfo, header: string[], options: FeedOptions): InputFeed {
  const where = `input "${options.modelInput}"`;
  const columns = options.featureColumns ?? header.filter((c) => !options.exclude.includes(c));
  const absent = columns.filter((c) => !header.includes(c));
  if (absent.length > 0) {
    throw new ConfigurationError(
      `feature column ${absent.map((c) => `"${c}"`).join(', ')} is not in ${options.file} (columns: ${header.join(', ')})`,
      'input "feature-columns"',
    );
  }
  const expected = width(input);
  if (expected !== null && expected !== columns.length) {
    throw new ConfigurationError(
      `the model's input "${input.name}" takes ${expected} features per row, but ${columns.length} feature columns were found (${columns.join(', ')}). Set feature-columns to the ${expected} columns the model was trained on, in training order`,
      where,
    );
  }
  if (rank(input) !== null && rank(input) !== 2) {
    throw new ConfigurationError(
      `the model's input "${input.name}" has rank ${rank(input)}; mlgate feeds tabular [N, F] inputs`,
      where,
    );
  }
  return { input: input.name, columns, ...feedType(input, where), dims: 'matrix' };
}

function feedType(input: ValueInfo, where: string) {
  const feed = FEED_OF[input.elemType ?? 'float32'];
  if (!feed)
    throw new ConfigurationError(
      `the model's input "${input.name}" has element type ${input.elemType}, which mlgate cannot feed from a CSV`,
      where,
    );
  return feed;
}

const rank = (i: ValueInfo) => (i.shape ? i.shape.length : null);
function width(i: ValueInfo): number | null {
  if (!i.shape || i.shape.length < 2) return i.shape?.length === 1 ? 1 : null;
  const w = i.shape[i.shape.length - 1];
  return typeof w === 'number' && w > 0 ? w : null;
}

/** The column reads the feeds need, one per (column, type). */
export function readsFor(feeds: InputFeed[]): ColumnRead[] {
  const reads: ColumnRead[] = [];
  for (const feed of feeds) {
    for (const name of feed.columns) {
      if (!reads.some((r) => r.name === name && r.as === feed.as))
        reads.push({ name, as: feed.as } as ColumnRead);
    }
  }
  return reads;
}
