import { open } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { ConfigurationError } from '../errors.js';
import type { DataFile } from './files.js';

const HEAD_BYTES = 1 << 16;

/**
 * The header row of a CSV/TSV file, read by us rather than DuckDB's sniffer: the sniffer guesses
 * from a sample and can mistake a ragged first row for the header, which would turn one bad line
 * into a confusing "column not found" error.
 */
export async function readCsvHeader(file: DataFile): Promise<string[]> {
  const handle = await open(file.path, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new ConfigurationError(`cannot read the file (${e.code ?? e.message})`, file.path);
  });
  let head: Buffer;
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buf, 0, HEAD_BYTES, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (file.gzip) head = gunzipHead(head, file.path);
  let text = head.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') {
    throw new ConfigurationError(
      'the file is empty: expected a header row and at least one data row',
      file.path,
    );
  }
  const delimiter = file.format === 'tsv' ? '\t' : ',';
  const header = splitRecord(firstRecord(text), delimiter);
  if (header.length === 1) refuseOtherDelimiter(header[0], delimiter, file.path);
  return header;
}

const DELIMITERS: Record<string, string> = { ',': 'comma', '\t': 'tab', ';': 'semicolon', '|': 'pipe' };

/**
 * A one-column header holding another delimiter is almost always a file read with the wrong one; its
 * rows would all "parse" as one text column and every later check would be meaningless.
 */
function refuseOtherDelimiter(header: string, expected: string, path: string) {
  const found = Object.keys(DELIMITERS).find((d) => d !== expected && header.includes(d));
  if (!found) return;
  throw new ConfigurationError(
    `the header is one column "${header.slice(0, 60)}", which looks ${DELIMITERS[found]}-delimited; mlgate reads .csv files as comma-separated and .tsv as tab-separated: convert the file or rename it to match`,
    path,
  );
}

function gunzipHead(head: Buffer, path: string): Buffer {
  try {
    // A truncated gzip stream is expected here (we only read the first block): finishFlush keeps what decoded.
    return gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH */ });
  } catch (e) {
    throw new ConfigurationError(`not a valid gzip file (${(e as Error).message})`, path);
  }
}

function firstRecord(text: string): string {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) return text.slice(0, i);
  }
  return text;
}

export function splitRecord(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields.map((f) => f.trim());
}
