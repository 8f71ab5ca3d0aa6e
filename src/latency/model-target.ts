/**
 * A model measured in-process: an onnxruntime session with the settings asked for, fed real rows of a
 * CSV or inputs generated from the model's own input metadata, one session.run per call.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Batch, BatchColumn } from '../data/batcher.js';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import { Xoshiro128 } from '../metrics/significance.js';
import { planFeeds } from '../model/feed.js';
import { type LoadedModel, type LoadOptions, loadModel } from '../model/load.js';
import type { ValueInfo } from '../model/onnx.js';
import { fetchNames } from '../model/outputs.js';
import { buildTensor } from '../model/predict.js';
import { loadOnnxRuntime } from '../native/index.js';
import type { Arm, Level, Window } from './measure.js';

type Ort = typeof import('onnxruntime-node');

export type Provider = 'cpu' | 'cuda';

export interface ModelSettings {
  threads?: number;
  graphOptimization: NonNullable<LoadOptions['graphOptimization']>;
  provider: Provider;
  /** What to do when the provider asked for cannot run here. */
  fallback: 'fail' | 'cpu';
  /** Sizes of dynamic dimensions other than the batch, by their symbolic name. */
  dims: Record<string, number>;
}

/** Rows of the `data` input as text, header first. */
export interface Rows {
  file: string;
  header: string[];
  rows: (string | null)[][];
}

export interface OpenedModel {
  model: LoadedModel;
  loadMs: number;
  provider: { requested: Provider; used: Provider; fallbackReason?: string };
}

/** Platforms where onnxruntime-node's build has the CUDA provider at all. */
const CUDA_PLATFORMS = new Set(['linux-x64', 'win32-x64']);

/** Loads the model with the provider policy applied, timing the load on its own. */
export async function openModel(
  path: string,
  input: string,
  settings: ModelSettings,
  logger: Logger,
): Promise<OpenedModel> {
  const options = (providers: Provider[]): LoadOptions => ({
    threads: settings.threads,
    graphOptimization: settings.graphOptimization,
    providers,
    // A serving process keeps its threads spinning between requests; measure it that way.
    spinning: true,
  });
  const load = async (providers: Provider[]) => {
    const started = performance.now();
    const model = await loadModel(path, input, logger, options(providers));
    return { model, loadMs: performance.now() - started };
  };
  if (settings.provider === 'cpu') {
    return { ...(await load(['cpu'])), provider: { requested: 'cpu', used: 'cpu' } };
  }
  let reason: string;
  const platform = `${process.platform}-${process.arch}`;
  if (!CUDA_PLATFORMS.has(platform)) {
    reason = `onnxruntime-node has no CUDA provider on ${platform}`;
  } else {
    try {
      return { ...(await load(['cuda'])), provider: { requested: 'cuda', used: 'cuda' } };
    } catch (e) {
      if (!(e instanceof ConfigurationError)) throw e;
      reason = e.message.replace(/^input "[^"]+" \([^)]*\): /, '');
    }
  }
  if (settings.fallback === 'fail') {
    throw new ConfigurationError(
      `execution provider cuda is not available: ${reason}. Run on a GPU runner with onnxruntime-node's CUDA libraries installed, or set provider-fallback: cpu to measure on the CPU instead`,
      'input "execution-provider"',
    );
  }
  logger.warning(
    `execution provider cuda is not available (${reason}); measuring on the CPU as provider-fallback says`,
  );
  return { ...(await load(['cpu'])), provider: { requested: 'cuda', used: 'cpu', fallbackReason: reason } };
}

/** How many distinct input batches each level cycles through, so that no cache sees one input only. */
const DISTINCT_BATCHES = 8;

/** One model as an Arm of the measurement: feeds prepared per level, then only session.run is timed. */
export class ModelArm implements Arm {
  private readonly feeds = new Map<number, Record<string, Tensor>[]>();
  /** Output names to fetch; undefined (all of them, as a bare loop asks) when every output is a tensor. */
  private readonly fetches: string[] | undefined;

  constructor(
    readonly opened: OpenedModel,
    private readonly ort: Ort,
    private readonly source: { rows: Rows } | { generate: ModelSettings['dims'] },
  ) {
    const names = fetchNames(opened.model.outputs);
    this.fetches = names.length === opened.model.session.outputNames.length ? undefined : names;
  }

  static async create(opened: OpenedModel, source: ModelArm['source'], logger: Logger) {
    return new ModelArm(opened, await loadOnnxRuntime(logger), source);
  }

  /** The inputs of one batch size; throws a ConfigurationError when they cannot be built. */
  prepare(batch: number): Record<string, Tensor>[] {
    let prepared = this.feeds.get(batch);
    if (!prepared) {
      prepared = Array.from({ length: DISTINCT_BATCHES }, (_, i) =>
        'rows' in this.source ? this.fromRows(this.source.rows, batch, i) : this.generated(batch, i),
      );
      this.feeds.set(batch, prepared);
    }
    return prepared;
  }

  async warm(level: Level, ms: number): Promise<void> {
    const feeds = this.prepare(level.value);
    const until = performance.now() + ms;
    let i = 0;
    do await this.run(feeds[i++ % feeds.length]);
    while (performance.now() < until);
  }

  async window(level: Level, ms: number): Promise<Window> {
    const feeds = this.prepare(level.value);
    const session = this.opened.model.session;
    let latencies = new Float64Array(1024);
    let n = 0;
    const started = performance.now();
    const until = started + ms;
    let now = started;
    // The loop a bare benchmark would write, plus a clock read and a store: session.run is called
    // directly, not through run(), because every extra await adds to what is measured.
    try {
      do {
        const before = now;
        const feed = feeds[n % feeds.length];
        await (this.fetches ? session.run(feed, this.fetches) : session.run(feed));
        now = performance.now();
        if (n === latencies.length) {
          const grown = new Float64Array(n * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[n++] = now - before;
      } while (now < until);
    } catch (e) {
      throw this.failed(e);
    }
    return {
      latenciesMs: latencies.subarray(0, n),
      sent: n,
      ok: n,
      errors: { status: 0, timeout: 0, network: 0, body: 0 },
      elapsedMs: now - started,
    };
  }

  private async run(feeds: Record<string, Tensor>): Promise<InferenceSession.ReturnType> {
    try {
      const session = this.opened.model.session;
      return await (this.fetches ? session.run(feeds, this.fetches) : session.run(feeds));
    } catch (e) {
      throw this.failed(e);
    }
  }

  private failed(e: unknown): ConfigurationError {
    return new ConfigurationError(
      `onnxruntime failed to run the model: ${(e as Error).message.split('\n')[0]}`,
      `input "${this.opened.model.input}"`,
    );
  }

  /** Batch `k` of a size: consecutive rows of the data, wrapping around when it has fewer. */
  private fromRows(table: Rows, size: number, k: number): Record<string, Tensor> {
    const model = this.opened.model;
    const feeds = planFeeds(model.info, table.header, {
      exclude: [],
      modelInput: model.input,
      file: table.file,
    });
    const columns = [...new Set(feeds.flatMap((f) => f.columns))];
    const index = new Map(columns.map((c, i) => [c, i]));
    const first = (k * size) % table.rows.length;
    const cells = (column: string) => {
      const at = table.header.indexOf(column);
      return Array.from({ length: size }, (_, r) => table.rows[(first + r) % table.rows.length][at]);
    };
    const out: Record<string, Tensor> = {};
    for (const feed of feeds) {
      const batch: Batch = {
        rows: size,
        columns: columns.map((c) =>
          feed.columns.includes(c) ? column(cells(c), feed.as, c, table.file) : [],
        ),
      };
      out[feed.input] = buildTensor(this.ort, feed, batch, (c) => index.get(c)!);
    }
    return out;
  }

  private generated(size: number, k: number): Record<string, Tensor> {
    const random = new Xoshiro128(k + 1);
    const out: Record<string, Tensor> = {};
    for (const input of this.opened.model.info.inputs) {
      const dims = shapeOf(input, size, this.source as { generate: ModelSettings['dims'] });
      const n = dims.reduce((a, b) => a * b, 1);
      const draw = () => random.nextFloat();
      out[input.name] = generatedTensor(this.ort, input, dims, n, draw);
    }
    return out;
  }
}

/** Cells of one column as the typed values a feed needs; a cell that does not parse is the user's to fix. */
function column(cells: (string | null)[], as: string, name: string, file: string): BatchColumn {
  const bad = (i: number) =>
    new ConfigurationError(`column "${name}": "${cells[i]}" is not a valid ${as}`, `${file}`);
  switch (as) {
    case 'float32':
    case 'float64': {
      const out = as === 'float32' ? new Float32Array(cells.length) : new Float64Array(cells.length);
      cells.forEach((c, i) => {
        const v = c === null || c === '' ? Number.NaN : Number(c);
        if (c !== null && c !== '' && Number.isNaN(v) && c.toLowerCase() !== 'nan') throw bad(i);
        out[i] = v;
      });
      return out;
    }
    case 'int64':
      return BigInt64Array.from(cells, (c, i) => {
        if (c === null || !/^[+-]?\d+$/.test(c.trim())) throw bad(i);
        return BigInt(c.trim());
      });
    case 'bool':
      return Uint8Array.from(cells, (c) => (c !== null && /^(true|1|yes)$/i.test(c.trim()) ? 1 : 0));
    default:
      return cells.map((c) => c ?? '');
  }
}

/** The shape of a generated input: the batch size first, fixed dimensions as they are, named ones from `dims`. */
function shapeOf(input: ValueInfo, batch: number, source: { generate: ModelSettings['dims'] }): number[] {
  const where = 'input "dims"';
  if (input.kind !== 'tensor' || !input.shape) {
    throw new ConfigurationError(
      `the model's input "${input.name}" has no tensor shape to generate values from; give data to feed it`,
      'input "data"',
    );
  }
  return input.shape.map((d, axis) => {
    if (axis === 0) {
      if (typeof d === 'number' && d !== batch) {
        throw new ConfigurationError(
          `the model's input "${input.name}" has a fixed batch dimension of ${d}; set batch-sizes to ${d}`,
          'input "batch-sizes"',
        );
      }
      return batch;
    }
    if (typeof d === 'number') return d;
    const size = d === null ? undefined : source.generate[d];
    if (size === undefined) {
      throw new ConfigurationError(
        `the model's input "${input.name}" has a dynamic dimension ${d === null ? `at axis ${axis} with no name` : `"${d}"`} that cannot be generated; set its size, e.g. dims: ${d ?? 'name'}=128${d === null ? ' (unnamed dimensions cannot be set: give data instead)' : ''}`,
        where,
      );
    }
    return size;
  });
}

function generatedTensor(ort: Ort, input: ValueInfo, dims: number[], n: number, draw: () => number): Tensor {
  switch (input.elemType) {
    case 'float32':
      return new ort.Tensor('float32', Float32Array.from({ length: n }, draw), dims);
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from({ length: n }, draw), dims);
    case 'int64':
      return new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: n }, () => BigInt(Math.floor(draw() * 10))),
        dims,
      );
    case 'int32':
      return new ort.Tensor(
        'int32',
        Int32Array.from({ length: n }, () => Math.floor(draw() * 10)),
        dims,
      );
    case 'bool':
      return new ort.Tensor(
        'bool',
        Uint8Array.from({ length: n }, () => (draw() < 0.5 ? 1 : 0)),
        dims,
      );
    case 'string':
      return new ort.Tensor(
        'string',
        Array.from({ length: n }, () => 'a'),
        dims,
      );
    default:
      throw new ConfigurationError(
        `the model's input "${input.name}" has element type ${input.elemType ?? 'unknown'}, which mlgate cannot generate; give data to feed it`,
        'input "data"',
      );
  }
}
