import type { Chunk, ColumnData, ColumnRead } from './engine.js';

/** Kept rows of several chunks gathered into fixed-size column buffers: the unit a model runs on. */
export interface Batch {
  rows: number;
  columns: BatchColumn[];
}

export type BatchColumn =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Uint8Array
  | Int32Array
  | (string | null)[];

function allocate(read: ColumnRead, size: number): BatchColumn {
  switch (read.as) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'bool':
      return new Uint8Array(size);
    case 'code':
      return new Int32Array(size);
    case 'text':
      return new Array<string | null>(size).fill(null);
  }
}

/**
 * Copies the kept rows of each chunk into batches of `size` rows. Buffers are reused, so a batch is
 * valid until the next call: the caller runs the model on it before pulling more rows.
 */
export class Batcher {
  private buffers: BatchColumn[];
  private filled = 0;

  constructor(
    reads: ColumnRead[],
    readonly size: number,
  ) {
    this.buffers = reads.map((r) => allocate(r, size));
  }

  /** Adds the rows of the chunk that `keep` allows (all when null); calls `emit` whenever a batch fills. */
  async add(chunk: Chunk, keep: Uint8Array | null, emit: (batch: Batch) => Promise<void>): Promise<void> {
    let i = 0;
    while (i < chunk.rows) {
      const room = this.size - this.filled;
      let j = i;
      let taken = 0;
      if (!keep) {
        j = Math.min(chunk.rows, i + room);
        taken = j - i;
      } else {
        for (; j < chunk.rows && taken < room; j++) if (keep[j]) taken++;
      }
      this.copy(chunk.columns, i, j, keep);
      this.filled += taken;
      i = j;
      if (this.filled === this.size) await this.flush(emit);
    }
  }

  async flush(emit: (batch: Batch) => Promise<void>): Promise<void> {
    if (this.filled === 0) return;
    const rows = this.filled;
    this.filled = 0;
    const view = (b: BatchColumn) => (Array.isArray(b) ? b.slice(0, rows) : b.subarray(0, rows));
    await emit({ rows, columns: this.buffers.map(view) });
  }

  private copy(columns: ColumnData[], from: number, to: number, keep: Uint8Array | null) {
    const start = this.filled;
    columns.forEach((column, c) => {
      const out = this.buffers[c] as any;
      const data = column.data as any;
      if (!keep && !Array.isArray(out)) {
        out.set(data.subarray(from, to), start);
        return;
      }
      let w = start;
      for (let k = from; k < to; k++) if (!keep || keep[k]) out[w++] = data[k];
    });
  }
}
