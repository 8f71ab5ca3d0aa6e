import { ConfigurationError } from '../errors.js';

/** A CSV table as the data readers hand it over; null is an empty cell. */
export interface BodyTable {
  header: string[];
  rows: (string | null)[][];
}

export interface RenderOptions {
  /** The columns that {{features}}, {{instances}}, {{row}} and {{rows}} carry, in this order; empty means all. */
  featureColumns: string[];
  /** Rows per request body for {{instances}} and {{rows}}. */
  batchSize: number;
  /** At most this many distinct bodies are rendered; the load loop cycles through them. */
  maxBodies?: number;
}

const WHERE = 'input "body-template"';
const KNOWN = '{{features}}, {{instances}}, {{row}}, {{rows}}, {{column:NAME}}';

type Part =
  | { kind: 'text'; text: string }
  | { kind: 'features' | 'instances' | 'row' | 'rows' }
  | { kind: 'column'; index: number };

/**
 * Renders the request bodies of a benchmark from a JSON template and the rows of a table, once, before any
 * request is sent, so that the load loop only picks the next ready body. Row i of the table feeds body
 * floor(i / batchSize); the last batch wraps around to the first rows so every body has batchSize rows.
 */
export function renderBodies(template: string, table: BodyTable, options: RenderOptions): string[] {
  const { batchSize } = options;
  const maxBodies = options.maxBodies ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ConfigurationError(
      `must be a whole number of at least 1, not ${batchSize}`,
      'input "batch-sizes"',
    );
  }
  if (!Number.isInteger(maxBodies) || maxBodies < 1) {
    throw new RangeError(`maxBodies must be a positive integer, not ${maxBodies}`);
  }
  const parts = parseTemplate(template, table.header);
  const usesFeatures = parts.some((p) => p.kind !== 'text' && p.kind !== 'column');
  const usesRows = parts.some((p) => p.kind !== 'text');

  const columns = options.featureColumns.length > 0 ? options.featureColumns : table.header;
  const featureIndex = columns.map((c) => table.header.indexOf(c));
  if (usesFeatures) {
    const absent = columns.filter((_, i) => featureIndex[i] < 0);
    if (absent.length > 0) {
      throw new ConfigurationError(
        `feature column ${absent.map((c) => `"${c}"`).join(', ')} is not in the data (columns: ${table.header.join(', ')}); list columns of the data file`,
        'input "feature-columns"',
      );
    }
  }

  let bodies: string[];
  if (!usesRows) {
    bodies = [template];
  } else {
    const n = table.rows.length;
    if (n === 0) {
      throw new ConfigurationError(
        'the data has no rows, so the body template has nothing to fill its placeholders with; give a CSV file with at least one data row',
        'input "data"',
      );
    }
    const keys = columns.map((c) => `${JSON.stringify(c)}:`);
    // Batches wrap around, so small tables reuse rows: render each row's pieces once.
    const featuresOf = memo(n, (r) => `[${featureIndex.map((c) => cellJson(table.rows[r][c])).join(',')}]`);
    const rowOf = memo(
      n,
      (r) => `{${featureIndex.map((c, i) => keys[i] + cellJson(table.rows[r][c])).join(',')}}`,
    );
    const batchOf = (start: number, piece: (r: number) => string) => {
      const out: string[] = new Array(batchSize);
      for (let k = 0; k < batchSize; k++) out[k] = piece((start + k) % n);
      return `[${out.join(',')}]`;
    };

    const count = Math.min(maxBodies, Math.ceil(n / batchSize));
    bodies = new Array(count);
    for (let b = 0; b < count; b++) {
      const first = (b * batchSize) % n;
      let body = '';
      for (const p of parts) {
        switch (p.kind) {
          case 'text':
            body += p.text;
            break;
          case 'features':
            body += featuresOf(first);
            break;
          case 'row':
            body += rowOf(first);
            break;
          case 'instances':
            body += batchOf(first, featuresOf);
            break;
          case 'rows':
            body += batchOf(first, rowOf);
            break;
          case 'column':
            body += cellJson(table.rows[first][p.index]);
            break;
        }
      }
      bodies[b] = body;
    }
  }

  const start = template.trimStart()[0];
  if (start === '{' || start === '[') {
    try {
      JSON.parse(bodies[0]);
    } catch (e) {
      throw new ConfigurationError(
        `the template starts like JSON but the first rendered body is not valid JSON (${(e as Error).message}); it begins: ${bodies[0].slice(0, 200)}. Fix the JSON around the placeholders (they insert values, arrays or objects, already quoted)`,
        WHERE,
      );
    }
  }
  return bodies;
}

function parseTemplate(template: string, header: string[]): Part[] {
  const parts: Part[] = [];
  let at = 0;
  for (;;) {
    const open = template.indexOf('{{', at);
    if (open < 0) break;
    const close = template.indexOf('}}', open + 2);
    const inner = close < 0 ? '' : template.slice(open + 2, close);
    if (close < 0 || inner.includes('{') || inner.includes('}')) {
      throw new ConfigurationError(
        `unbalanced braces: the "{{" at character ${open + 1} (${clip(template.slice(open, open + 30))}) has no matching "}}"; write placeholders as ${KNOWN}`,
        WHERE,
      );
    }
    if (open > at) parts.push({ kind: 'text', text: template.slice(at, open) });
    parts.push(placeholder(inner, header));
    at = close + 2;
  }
  if (at < template.length) parts.push({ kind: 'text', text: template.slice(at) });
  return parts;
}

function placeholder(inner: string, header: string[]): Part {
  const text = inner.trim();
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim().toLowerCase();
  if (colon < 0 && (name === 'features' || name === 'instances' || name === 'row' || name === 'rows')) {
    return { kind: name };
  }
  if (name === 'column') {
    const column = colon < 0 ? '' : text.slice(colon + 1).trim();
    if (column === '') {
      throw new ConfigurationError('{{column}} needs a column name, as in {{column:age}}', WHERE);
    }
    const index = header.indexOf(column);
    if (index < 0) {
      throw new ConfigurationError(
        `{{${text}}} names the column "${column}", which is not in the data (columns: ${header.join(', ')})`,
        WHERE,
      );
    }
    return { kind: 'column', index };
  }
  throw new ConfigurationError(`unknown placeholder {{${text}}}; the placeholders are ${KNOWN}`, WHERE);
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const LOOSE_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A cell as a JSON value: a number when it reads as a finite decimal number, else a string; empty is null. */
function cellJson(cell: string | null | undefined): string {
  if (cell == null) return 'null';
  const t = cell.trim();
  if (t === '') return 'null';
  if (JSON_NUMBER.test(t)) {
    // Kept verbatim so that long integers (ids) keep every digit.
    if (Number.isFinite(Number(t))) return t;
  } else if (LOOSE_NUMBER.test(t)) {
    const v = Number(t);
    if (Number.isFinite(v)) return JSON.stringify(v);
  }
  return JSON.stringify(cell);
}

function memo(n: number, render: (r: number) => string): (r: number) => string {
  const cache: (string | undefined)[] = new Array(n);
  return (r) => {
    let v = cache[r];
    if (v === undefined) {
      v = render(r);
      cache[r] = v;
    }
    return v;
  };
}

function clip(s: string): string {
  return JSON.stringify(s.length > 30 ? `${s.slice(0, 30)}…` : s);
}
