import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBInstance, DuckDBVector } from '@duckdb/node-api';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import { loadDuckDB } from '../native/index.js';
import { readCsvHeader } from './csv-header.js';
import type { DataFile } from './files.js';

/** How a column is read: as numbers of a given width, as text, or coded against a known list of values. */
export type ColumnRead =
  | { name: string; as: 'float32' | 'float64' | 'int64' | 'bool' | 'text' }
  /**
   * Code = index of the value in `values`, -1 when the value is not in the list, -2 when the cell is
   * empty. Done in SQL, so JS decodes a string only for the rare value that is not in the list.
   */
  | { name: string; as: 'code'; values: string[] };

export type ColumnData =
  | { as: 'float32'; data: Float32Array; nulls: Uint8Array | null }
  | { as: 'float64'; data: Float64Array; nulls: Uint8Array | null }
  | { as: 'int64'; data: BigInt64Array; nulls: Uint8Array | null }
  | { as: 'bool'; data: Uint8Array; nulls: Uint8Array | null }
  | { as: 'text'; data: (string | null)[]; nulls: Uint8Array | null }
  | { as: 'code'; data: Int32Array; nulls: null; textAt: (row: number) => string };

export interface Chunk {
  /** Index of the chunk's first row within its file (0 = the first data row). */
  firstRow: number;
  rows: number;
  columns: ColumnData[];
}

const STREAMING_BUFFER = '64MB';
const MEMORY_LIMIT = '640MB';
const memoryLimit = () => process.env.MLGATE_MEMORY_LIMIT || MEMORY_LIMIT;

const SQL_TYPE = {
  float32: 'FLOAT',
  float64: 'DOUBLE',
  int64: 'BIGINT',
  bool: 'BOOLEAN',
  text: 'VARCHAR',
} as const;

/** SQL string literal and quoted identifier: every name and path from users goes through these. */
export const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
export const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** The SQL surface the checks and statistics code runs on (an Engine, or a bare connection in tests). */
export interface Sql {
  /** Rows as plain JS objects keyed by column name (BIGINT as number, DECIMAL as number, NULL as null). */
  all(sql: string): Promise<Record<string, unknown>[]>;
}

/** SQL that can also hand a query's numbers to JS as they come, several queries at once. */
export interface SqlStreams extends Sql {
  /**
   * The rows of a query whose columns are all DOUBLE and never NULL, a chunk at a time: one
   * Float64Array per column, valid until the next chunk is asked for. Each call runs on its own
   * connection, so that two sorted streams can be merged.
   */
  doubles(sql: string): AsyncGenerator<Float64Array[]>;
}

/** Columns every loaded table carries besides the file's own: where each row came from. */
export const FILE_COLUMN = '__file';
export const LINE_COLUMN = '__line';

/** The data engine: DuckDB reading CSV/TSV/gzip/Parquet out of core and handing back typed column chunks. */
export class Engine implements SqlStreams {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly spillDir: string,
  ) {}

  /**
   * `tables: true` for commands that load whole files into tables (validate-data): DuckDB then keeps
   * to a memory limit and spills past it. Streaming commands (validate-model) hold little and run
   * faster without one.
   */
  static async open(logger: Logger, options: { tables?: boolean } = {}): Promise<Engine> {
    const duckdb = await loadDuckDB(logger);
    const instance = await duckdb.DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    // onnxruntime-node runs a model on the JS thread; a deeper streaming buffer lets DuckDB's own
    // threads keep parsing ahead meanwhile (1M rows x 20 features: 6.3 s -> 5.3 s end to end on 2
    // cores) at a bounded cost in memory.
    await conn.run(`SET streaming_buffer_size = '${STREAMING_BUFFER}'`);
    const spill = join(tmpdir(), `mlgate-duckdb-${process.pid}-${Date.now()}`);
    await conn.run(`SET temp_directory = ${literal(spill)}`);
    if (options.tables) {
      // Tables of 10M rows must not grow the process without bound: past the limit DuckDB spills.
      // MLGATE_MEMORY_LIMIT (a DuckDB size such as '2GB') raises it on runners with memory to spare.
      await conn.run(`SET memory_limit = ${literal(memoryLimit())}`);
    }
    return new Engine(instance, conn, spill);
  }

  async all(sql: string): Promise<Record<string, unknown>[]> {
    let result: Awaited<ReturnType<DuckDBConnection['runAndReadAll']>>;
    try {
      result = await this.conn.runAndReadAll(sql);
    } catch (e) {
      throw outOfMemory(e) ?? e;
    }
    const names = result.columnNames();
    return result.getRowsJS().map((row) => Object.fromEntries(names.map((n, i) => [n, plain(row[i])])));
  }

  async *doubles(sql: string): AsyncGenerator<Float64Array[]> {
    const conn = await this.instance.connect();
    try {
      let result: Awaited<ReturnType<DuckDBConnection['stream']>>;
      try {
        result = await conn.stream(sql);
      } catch (e) {
        throw outOfMemory(e) ?? e;
      }
      for (;;) {
        let chunk: Awaited<ReturnType<typeof result.fetchChunk>>;
        try {
          chunk = await result.fetchChunk();
        } catch (e) {
          throw outOfMemory(e) ?? e;
        }
        if (!chunk || chunk.rowCount === 0) return;
        const rows = chunk.rowCount;
        const columns: Float64Array[] = [];
        for (let i = 0; i < chunk.columnCount; i++) {
          const items = (chunk.getColumnVector(i) as unknown as { items: Float64Array }).items;
          columns.push(items.subarray(0, rows));
        }
        yield columns;
      }
    } finally {
      conn.closeSync();
    }
  }

  /**
   * Loads files into table `name`, every column as text (so that a value which does not parse as
   * its declared type is a failed check on its row, not a read error), plus __file and __line (the
   * line in its file; the header is line 1). Returns the number of rows.
   *
   * The rows are stored once, in file order, in `<name>__rows`; `name` is a view that derives
   * __file and __line from the row id, which costs nothing, where a row_number() window would cost
   * as much as reading the file again.
   */
  async loadText(name: string, files: DataFile[], header: string[]): Promise<number> {
    // Its own connection, so that data and reference load at once (on 2 cores: 3.2 s -> 2.7 s for two
    // files of 1M rows x 20 columns).
    const conn = await this.instance.connect();
    try {
      const rowsTable = ident(`${name}__rows`);
      const columns = header.map((c) => `CAST(${ident(c)} AS VARCHAR) AS ${ident(c)}`).join(', ');
      const starts: number[] = [];
      let total = 0;
      for (const [i, file] of files.entries()) {
        const select = `SELECT ${columns} FROM ${this.source(file, header, [])}`;
        try {
          await conn.run(
            i === 0
              ? `CREATE OR REPLACE TABLE ${rowsTable} AS ${select}`
              : `INSERT INTO ${rowsTable} ${select}`,
          );
        } catch (e) {
          throw dataError(e, file);
        }
        starts.push(total);
        total = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${rowsTable}`)).getRowsJS()[0][0]);
      }
      const which = (values: string[]) =>
        files.length === 1
          ? values[0]
          : `CASE ${starts
              .map((s, i) => `WHEN rowid >= ${s} THEN ${values[i]}`)
              .reverse()
              .join(' ')} END`;
      const file = which(files.map((f) => literal(f.path)));
      const line = `(rowid - ${which(starts.map(String))} + 2)::BIGINT`;
      await conn.run(
        `CREATE OR REPLACE VIEW ${ident(name)} AS SELECT ${file} AS ${FILE_COLUMN}, ${line} AS ${LINE_COLUMN}, * FROM ${rowsTable}`,
      );
      return total;
    } finally {
      conn.closeSync();
    }
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
    rmSync(this.spillDir, { recursive: true, force: true });
  }

  /** Column names in file order. */
  async columns(file: DataFile): Promise<string[]> {
    if (file.format !== 'parquet') {
      const names = await readCsvHeader(file);
      const seen = new Set<string>();
      names.forEach((name, i) => {
        if (name === '') throw new ConfigurationError(`column ${i + 1} of the header has no name`, file.path);
        if (seen.has(name))
          throw new ConfigurationError(`the header names column "${name}" twice`, file.path);
        seen.add(name);
      });
      return names;
    }
    const result = await this.run(`DESCRIBE SELECT * FROM ${this.source(file, [], [])}`, file);
    return result.map((row) => String(row[0]));
  }

  /** The columns of the first file, which every other file must have too, in the same order. */
  async sharedColumns(files: DataFile[]): Promise<string[]> {
    const header = await this.columns(files[0]);
    for (const file of files.slice(1)) {
      const other = await this.columns(file);
      if (other.join('\u0000') !== header.join('\u0000')) {
        throw new ConfigurationError(
          `its columns (${other.join(', ')}) differ from ${files[0].path} (${header.join(', ')}); every file of one input must have the same header`,
          file.path,
        );
      }
    }
    return header;
  }

  /** Parquet column types, to refuse a text column where numbers are expected before reading it. */
  async parquetTypes(file: DataFile): Promise<Map<string, string>> {
    const rows = await this.run(`DESCRIBE SELECT * FROM ${this.source(file, [], [])}`, file);
    return new Map(rows.map((row) => [String(row[0]), String(row[1])]));
  }

  /** Distinct values of a column across files with their counts (null = empty cell). */
  async valueCounts(
    files: DataFile[],
    header: string[],
    column: string,
  ): Promise<Map<string | null, number>> {
    const counts = new Map<string | null, number>();
    for (const file of files) {
      const sql = `SELECT CAST(${ident(column)} AS VARCHAR), count(*) FROM ${this.source(file, header, [])} GROUP BY ALL`;
      for (const [value, n] of await this.run(sql, file)) {
        const key = value === null ? null : String(value);
        counts.set(key, (counts.get(key) ?? 0) + Number(n));
      }
    }
    return counts;
  }

  /** Up to `max` distinct non-empty values of a column across files; null when there are more. */
  async fewDistinct(
    files: DataFile[],
    header: string[],
    column: string,
    max: number,
  ): Promise<string[] | null> {
    const values = new Set<string>();
    for (const file of files) {
      const sql = `SELECT DISTINCT CAST(${ident(column)} AS VARCHAR) AS v FROM ${this.source(file, header, [])} WHERE v IS NOT NULL LIMIT ${max + 1}`;
      for (const [v] of await this.run(sql, file)) values.add(String(v));
      if (values.size > max) return null;
    }
    return [...values];
  }

  /** The first `limit` rows across files, every cell as text (null = empty cell). */
  async head(files: DataFile[], header: string[], limit: number): Promise<(string | null)[][]> {
    const rows: (string | null)[][] = [];
    for (const file of files) {
      if (rows.length >= limit) break;
      const columns = header.map((c) => `CAST(${ident(c)} AS VARCHAR)`).join(', ');
      const sql = `SELECT ${columns} FROM ${this.source(file, header, [])} LIMIT ${limit - rows.length}`;
      for (const row of await this.run(sql, file)) rows.push(row.map((v) => (v === null ? null : String(v))));
    }
    return rows;
  }

  /** Streams the requested columns of one file, in file order, a DuckDB vector (2,048 rows) at a time. */
  async *stream(file: DataFile, header: string[], reads: ColumnRead[]): AsyncGenerator<Chunk> {
    const typed = new Map<string, string>();
    for (const r of reads) if (r.as !== 'code') typed.set(r.name, SQL_TYPE[r.as]);
    const select = reads.flatMap((r) => {
      const column = ident(r.name);
      if (r.as !== 'code')
        return file.format === 'parquet' ? [`CAST(${column} AS ${SQL_TYPE[r.as]})`] : [column];
      const text = `CAST(${column} AS VARCHAR)`;
      // list_position is 1-based and NULL (or 0) when absent. The text rides along for values not in the list.
      const position = `coalesce(nullif(list_position([${r.values.map(literal).join(',')}], ${text}), 0), 0)`;
      return [`(CASE WHEN ${column} IS NULL THEN -1 ELSE ${position} END)::INTEGER - 1`, text];
    });
    const sql = `SELECT ${select.join(', ')} FROM ${this.source(file, header, [...typed])}`;
    let result: Awaited<ReturnType<DuckDBConnection['stream']>>;
    try {
      result = await this.conn.stream(sql);
    } catch (e) {
      throw dataError(e, file);
    }
    let firstRow = 0;
    for (;;) {
      let chunk: Awaited<ReturnType<typeof result.fetchChunk>>;
      try {
        chunk = await result.fetchChunk();
      } catch (e) {
        throw dataError(e, file);
      }
      if (!chunk || chunk.rowCount === 0) return;
      const rows = chunk.rowCount;
      let vector = 0;
      const columns = reads.map((r) => {
        const data = columnData(r, chunk.getColumnVector(vector++), rows);
        if (data.as === 'code') {
          const text = chunk.getColumnVector(vector++);
          data.textAt = (row) => text.getItem(row) as string;
        }
        return data;
      });
      yield { firstRow, rows, columns };
      firstRow += rows;
    }
  }

  private source(file: DataFile, header: string[], typed: [string, string][]): string {
    if (file.format === 'parquet') return `read_parquet(${literal(file.path)})`;
    const types = new Map(typed);
    // Every column is declared so that DuckDB never guesses; unread ones stay text (projection skips them).
    const columns = header
      .map((name) => `${literal(name)}: ${literal(types.get(name) ?? 'VARCHAR')}`)
      .join(', ');
    const options = [
      'header = true',
      'auto_detect = false',
      `delim = ${literal(file.format === 'tsv' ? '\t' : ',')}`,
      `quote = '"'`,
      `escape = '"'`,
      `compression = ${literal(file.gzip ? 'gzip' : 'none')}`,
      header.length > 0 ? `columns = {${columns}}` : '',
    ].filter(Boolean);
    return `read_csv(${literal(file.path)}, ${options.join(', ')})`;
  }

  private async run(sql: string, file: DataFile): Promise<unknown[][]> {
    try {
      return (await this.conn.runAndReadAll(sql)).getRowsJS() as unknown[][];
    } catch (e) {
      throw dataError(e, file);
    }
  }
}

function plain(value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

/** Reads a DuckDB vector's backing storage directly: per-item accessors would cost a call per cell. */
function columnData(read: ColumnRead, vector: DuckDBVector, rows: number): ColumnData {
  const raw = vector as unknown as {
    items?: ArrayLike<unknown>;
    validity?: Validity;
  };
  const nulls = nullMask(raw.validity, rows);
  switch (read.as) {
    case 'float32':
      return { as: 'float32', data: raw.items as Float32Array, nulls };
    case 'float64':
      return { as: 'float64', data: raw.items as Float64Array, nulls };
    case 'int64':
      return { as: 'int64', data: raw.items as BigInt64Array, nulls };
    case 'code':
      return { as: 'code', data: raw.items as Int32Array, nulls: null, textAt: () => '' };
    case 'bool': {
      const data = new Uint8Array(rows);
      for (let i = 0; i < rows; i++) data[i] = vector.getItem(i) === true ? 1 : 0;
      return { as: 'bool', data, nulls };
    }
    case 'text': {
      const data: (string | null)[] = new Array(rows);
      for (let i = 0; i < rows; i++) data[i] = vector.getItem(i) as string | null;
      return { as: 'text', data, nulls };
    }
  }
}

/** The private fields of @duckdb/node-api's DuckDBValidity that we read. */
interface Validity {
  data: BigUint64Array | null;
  offset: number;
  itemValid(i: number): boolean;
}

function nullMask(validity: Validity | undefined, rows: number) {
  // DuckDB leaves the validity mask unallocated when every value in the vector is valid; when it is
  // allocated, reading its bytes is ~50x faster than the per-item BigInt accessor.
  const words = validity?.data;
  if (!words) return null;
  if (validity.offset !== 0) return slowNullMask(validity, rows);
  const bytes = new Uint8Array(words.buffer, words.byteOffset, Math.ceil(rows / 8));
  let mask: Uint8Array | null = null;
  for (let b = 0; b < bytes.length; b++) {
    if (bytes[b] === 0xff) continue;
    for (let i = b * 8; i < Math.min(rows, b * 8 + 8); i++) {
      if ((bytes[b] & (1 << (i - b * 8))) === 0) {
        mask ??= new Uint8Array(rows);
        mask[i] = 1;
      }
    }
  }
  return mask;
}

function slowNullMask(validity: Validity, rows: number) {
  let mask: Uint8Array | null = null;
  for (let i = 0; i < rows; i++) {
    if (!validity.itemValid(i)) {
      mask ??= new Uint8Array(rows);
      mask[i] = 1;
    }
  }
  return mask;
}

/** DuckDB's memory limit reached by an operator that cannot spill: the user can raise the limit. */
function outOfMemory(e: unknown): ConfigurationError | undefined {
  const message = e instanceof Error ? e.message : String(e);
  if (!/Out of Memory Error/.test(message)) return undefined;
  return new ConfigurationError(
    `the data engine ran out of memory (${firstLine(message).replace(/^Out of Memory Error: /, '')}); set the environment variable MLGATE_MEMORY_LIMIT higher (now ${memoryLimit()}, e.g. '2GB') on a runner with more memory`,
  );
}

/** Turns DuckDB's CSV errors into one line that names the file, line, column and value, and says what to do. */
export function dataError(e: unknown, file: DataFile): ConfigurationError {
  const memory = outOfMemory(e);
  if (memory) return memory;
  const message = e instanceof Error ? e.message : String(e);
  const line = /CSV Error on Line: (\d+)/.exec(message)?.[1];
  const where = line ? `${file.path}, line ${line}` : file.path;
  const conversion = /converting column "([^"]+)"\. Could not convert string "([^"]*)" to '(\w+)'/.exec(
    message,
  );
  if (conversion) {
    const [, column, value, type] = conversion;
    return new ConfigurationError(
      `column "${column}": "${value}" is not a valid ${type.toLowerCase()}; fix the value, or leave the column out of feature-columns`,
      where,
    );
  }
  const ragged = /Expected Number of Columns: (\d+) Found: (\d+)/.exec(message);
  if (ragged) {
    return new ConfigurationError(
      `the row has ${ragged[2]} fields but the header has ${ragged[1]}; fix the row (quote fields that contain the delimiter)`,
      where,
    );
  }
  if (/No files found/.test(message)) return new ConfigurationError('file not found', file.path);
  if (/gzip|GZIP/.test(message))
    return new ConfigurationError(`cannot decompress: ${firstLine(message)}`, where);
  if (/parquet|Parquet|magic bytes/.test(message) && file.format === 'parquet') {
    return new ConfigurationError(`not a readable Parquet file: ${firstLine(message)}`, where);
  }
  return new ConfigurationError(`cannot read the data: ${firstLine(message)}`, where);
}

const firstLine = (s: string) => s.split('\n')[0];
