import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Batch } from '../data/batcher.js';
import { ConfigurationError } from '../errors.js';
import type { InputFeed } from './feed.js';
import type { LoadedModel } from './load.js';
import { fetchNames } from './outputs.js';

type Ort = typeof import('onnxruntime-node');

/** The classes of a classification run, shared by the candidate and the baseline so their ids agree. */
export class ClassSpace {
  readonly index = new Map<string, number>();
  constructor(
    readonly classes: string[],
    /** How many leading classes the candidate model scores (its probability columns). */
    readonly scoreClasses: number,
  ) {
    classes.forEach((c, i) => {
      this.index.set(c, i);
    });
  }
  /** The id of a label, adding it when a model predicts one the space has not seen. */
  idOf(label: string): number {
    let id = this.index.get(label);
    if (id === undefined) {
      id = this.classes.length;
      this.classes.push(label);
      this.index.set(label, id);
    }
    return id;
  }
}

/** What a model's outputs turned out to be, settled on the first batch and reported. */
export type Interpretation =
  | 'label+probabilities'
  | 'label'
  | 'probabilities'
  | 'logits (softmax applied)'
  | 'binary probability'
  | 'binary logit (sigmoid applied)'
  | 'regression';

/** Append-only typed storage that grows by doubling: 1M rows never hold JS objects per row. */
export class Growable<T extends Float32Array | Float64Array | Int32Array | Uint8Array> {
  private buf: T;
  length = 0;
  constructor(
    private readonly make: (n: number) => T,
    readonly width = 1,
  ) {
    this.buf = make(1024 * width);
  }
  reserve(rows: number): T {
    const need = (this.length + rows) * this.width;
    if (need > this.buf.length) {
      const next = this.make(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.length * this.width));
      this.buf = next;
    }
    return this.buf;
  }
  commit(rows: number) {
    this.length += rows;
  }
  push(values: ArrayLike<number>) {
    const buf = this.reserve(values.length / this.width);
    buf.set(values, this.length * this.width);
    this.commit(values.length / this.width);
  }
  view(): T {
    return this.buf.subarray(0, this.length * this.width) as T;
  }
}

export interface PredictorOptions {
  task: 'classification' | 'regression';
  space?: ClassSpace;
}

/** Runs one model over batches and keeps its predictions (class ids + probabilities, or values). */
export class Predictor {
  interpretation?: Interpretation;
  readonly predicted: Growable<Int32Array> | Growable<Float64Array>;
  proba?: Growable<Float32Array>;
  private permutation?: Int32Array;
  /** Nanoseconds spent inside onnxruntime, for the report. */
  inferenceNs = 0n;

  constructor(
    readonly model: LoadedModel,
    private readonly feeds: InputFeed[],
    /** Column index in a batch for each feed column. */
    private readonly columnIndex: (feed: InputFeed, column: string) => number,
    private readonly ort: Ort,
    private readonly options: PredictorOptions,
  ) {
    this.predicted =
      options.task === 'regression'
        ? new Growable((n) => new Float64Array(n))
        : new Growable((n) => new Int32Array(n));
  }

  async run(batch: Batch): Promise<void> {
    const feeds: Record<string, Tensor> = {};
    for (const feed of this.feeds) feeds[feed.input] = this.tensor(feed, batch);
    const start = process.hrtime.bigint();
    let out: InferenceSession.ReturnType;
    try {
      out = await this.model.session.run(feeds, fetchNames(this.model.outputs));
    } catch (e) {
      throw new ConfigurationError(
        `onnxruntime failed to run the model: ${(e as Error).message.split('\n')[0]}`,
        `input "${this.model.input}"`,
      );
    }
    this.inferenceNs += process.hrtime.bigint() - start;
    if (this.options.task === 'regression') this.readRegression(out, batch.rows);
    else this.readClassification(out, batch.rows);
  }

  private tensor(feed: InputFeed, batch: Batch): Tensor {
    return buildTensor(this.ort, feed, batch, (column) => this.columnIndex(feed, column));
  }

  private readRegression(out: InferenceSession.ReturnType, rows: number) {
    const name = this.model.outputs.scores?.name ?? this.model.outputs.probabilities?.name;
    if (!name)
      throw new ConfigurationError(
        'the model has no numeric output to read a regression value from',
        `input "${this.model.input}"`,
      );
    const data = out[name].data as Float32Array | Float64Array;
    if (data.length !== rows) {
      throw new ConfigurationError(
        `the model's output "${name}" has ${data.length / rows} values per row; a regression model gives one. Set task: classification if it is a classifier`,
        `input "${this.model.input}"`,
      );
    }
    this.interpretation = 'regression';
    (this.predicted as Growable<Float64Array>).push(data);
  }

  private readClassification(out: InferenceSession.ReturnType, rows: number) {
    const space = this.options.space!;
    const plan = this.model.outputs;
    const probName = plan.probabilities?.name ?? plan.scores?.name;
    let probs = probName ? (out[probName].data as Float32Array | Float64Array) : undefined;
    const width = probs ? probs.length / rows : 0;
    if (probs && width === 1) probs = this.binaryToTwoColumns(probs);
    else if (probs && !plan.label && !plan.probabilities) probs = this.softmaxIfLogits(probs, width);
    else this.interpretation ??= plan.label ? (probs ? 'label+probabilities' : 'label') : 'probabilities';

    if (probs) this.storeProbabilities(probs, rows);
    const predicted = (this.predicted as Growable<Int32Array>).reserve(rows);
    const at = this.predicted.length;
    if (plan.label) {
      const labels = out[plan.label.name].data as BigInt64Array | Int32Array | string[];
      for (let i = 0; i < rows; i++) predicted[at + i] = space.idOf(String(labels[i]));
    } else {
      const c = probs!.length / rows;
      const classIds = this.classIdsOfColumns(c);
      for (let i = 0; i < rows; i++) {
        let best = 0;
        for (let k = 1; k < c; k++) if (probs![i * c + k] > probs![i * c + best]) best = k;
        predicted[at + i] = classIds[best];
      }
    }
    this.predicted.commit(rows);
  }

  /**
   * A single score per row is the second class's (in class-labels order), a probability or a logit when
   * outside [0, 1]. Not positive-label's: that only picks the class binary metrics are reported for.
   */
  private binaryToTwoColumns(scores: Float32Array | Float64Array): Float32Array {
    if (!this.interpretation) {
      const probability =
        scores.every((s) => s >= 0 && s <= 1) || this.model.outputs.scores?.producer === 'Sigmoid';
      this.interpretation = probability ? 'binary probability' : 'binary logit (sigmoid applied)';
    }
    const logit = this.interpretation === 'binary logit (sigmoid applied)';
    const out = new Float32Array(scores.length * 2);
    for (let i = 0; i < scores.length; i++) {
      const p = logit ? 1 / (1 + Math.exp(-scores[i])) : scores[i];
      out[i * 2 + 1] = p;
      out[i * 2] = 1 - p;
    }
    return out;
  }

  /** [N, C] scores are probabilities when they come from a Softmax or already sum to one; otherwise logits. */
  private softmaxIfLogits(scores: Float32Array | Float64Array, c: number): Float32Array | Float64Array {
    if (!this.interpretation) {
      const producer = this.model.outputs.scores?.producer;
      this.interpretation =
        producer === 'Softmax' ||
        (producer !== 'Gemm' && producer !== 'MatMul' && producer !== 'Add' && rowsSumToOne(scores, c))
          ? 'probabilities'
          : 'logits (softmax applied)';
    }
    if (this.interpretation === 'probabilities') return scores;
    const out = new Float32Array(scores.length);
    for (let i = 0; i < scores.length; i += c) {
      let max = -Infinity;
      for (let k = 0; k < c; k++) max = Math.max(max, scores[i + k]);
      let sum = 0;
      for (let k = 0; k < c; k++) sum += out[i + k] = Math.exp(scores[i + k] - max);
      for (let k = 0; k < c; k++) out[i + k] /= sum;
    }
    return out;
  }

  /** Probability columns follow the model's class order; stored in the shared space's order. */
  private storeProbabilities(probs: Float32Array | Float64Array, rows: number) {
    const space = this.options.space!;
    const c = probs.length / rows;
    if (!this.proba) {
      if (c !== space.scoreClasses) {
        throw new ConfigurationError(
          `the model gives ${c} class scores per row, but ${space.scoreClasses} classes are known (${space.classes.slice(0, space.scoreClasses).join(', ')}). Set class-labels to the model's classes in output order`,
          `input "${this.model.input}"`,
        );
      }
      this.proba = new Growable((n) => new Float32Array(n), c);
      this.permutation = this.classIdsOfColumns(c);
    }
    const buf = this.proba.reserve(rows);
    const base = this.proba.length * c;
    const perm = this.permutation!;
    for (let i = 0; i < rows; i++) for (let k = 0; k < c; k++) buf[base + i * c + perm[k]] = probs[i * c + k];
    this.proba.commit(rows);
  }

  private classIdsOfColumns(c: number): Int32Array {
    const space = this.options.space!;
    const labels = this.model.outputs.classLabels;
    const ids = new Int32Array(c);
    for (let k = 0; k < c; k++) ids[k] = labels && labels.length === c ? space.idOf(labels[k]) : k;
    for (const id of ids) {
      if (id >= space.scoreClasses) {
        throw new ConfigurationError(
          `the model scores class "${space.classes[id]}", which the candidate model does not know; compare models with the same classes`,
          `input "${this.model.input}"`,
        );
      }
    }
    return ids;
  }
}

function rowsSumToOne(scores: ArrayLike<number>, c: number): boolean {
  for (let i = 0; i < scores.length; i += c) {
    let sum = 0;
    for (let k = 0; k < c; k++) {
      const v = scores[i + k];
      if (v < 0 || v > 1) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}

/** The tensor for one model input from a batch of columns (column-major, as the data engine gives them). */
export function buildTensor(
  ort: Ort,
  feed: InputFeed,
  batch: Batch,
  columnIndex: (column: string) => number,
): Tensor {
  const n = batch.rows;
  const width = feed.columns.length;
  const dims = feed.dims === 'matrix' ? [n, width] : feed.dims === 'column' ? [n, 1] : [n];
  const columns = feed.columns.map((c) => batch.columns[columnIndex(c)]);
  if (feed.as === 'text')
    return new ort.Tensor(
      'string',
      (columns[0] as (string | null)[]).map((s) => s ?? ''),
      dims,
    );
  if (feed.as === 'bool') return new ort.Tensor('bool', columns[0] as Uint8Array, dims);
  if (width === 1 && feed.tensorType !== 'int32')
    return new ort.Tensor(feed.tensorType, columns[0] as any, dims);
  const out =
    feed.tensorType === 'float32'
      ? new Float32Array(n * width)
      : feed.tensorType === 'float64'
        ? new Float64Array(n * width)
        : feed.tensorType === 'int32'
          ? new Int32Array(n * width)
          : new BigInt64Array(n * width);
  // Columns arrive column-major from the data engine; the model takes rows.
  for (let j = 0; j < width; j++) {
    const col = columns[j] as any;
    if (feed.tensorType === 'int32')
      for (let i = 0; i < n; i++) (out as Int32Array)[i * width + j] = Number(col[i]);
    else for (let i = 0; i < n; i++) (out as any)[i * width + j] = col[i];
  }
  return new ort.Tensor(feed.tensorType, out as any, dims);
}
