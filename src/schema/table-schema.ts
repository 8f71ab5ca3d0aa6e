import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { ConfigurationError } from '../errors.js';
import { editDistance } from '../gates/index.js';

/**
 * A Frictionless Table Schema (v1, plus `uniqueKeys` and `fieldsMatch` from v2) as mlgate reads it.
 *
 * mlgate extension, `mostly`: the share (0..1) of rows that must pass a check for it to pass, as in
 * Great Expectations. On a field it applies to the field's type check and every constraint; inside
 * `constraints` it applies to those constraints only and wins over the field's. The share is taken of
 * the rows the check looks at: non-missing rows for type, unique and the value constraints, every row
 * for `required`. Default 1: a single failing row fails the check.
 */
export interface TableSchema {
  fields: Field[];
  /** Cells equal to one of these are missing (an empty cell always is). Default `[""]`. */
  missingValues?: string[];
  primaryKey?: string[];
  uniqueKeys?: string[][];
  fieldsMatch?: FieldsMatch;
}

export const FIELD_TYPES = [
  'string',
  'number',
  'integer',
  'boolean',
  'date',
  'datetime',
  'time',
  'year',
  'any',
];
export type FieldType =
  | 'string'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'date'
  | 'datetime'
  | 'time'
  | 'year'
  | 'any';

export const FIELDS_MATCH = ['exact', 'equal', 'subset', 'superset', 'partial'] as const;
export type FieldsMatch = (typeof FIELDS_MATCH)[number];

export interface Field {
  name: string;
  type: FieldType;
  /** string: email, uri, uuid, binary; date/time/datetime: `any` or a strptime pattern (`%d/%m/%Y`). */
  format?: string;
  decimalChar?: string;
  groupChar?: string;
  /** false: leading and trailing non-numeric characters (`$`, `%`) are stripped before parsing. */
  bareNumber?: boolean;
  trueValues?: string[];
  falseValues?: string[];
  mostly?: number;
  /** Frictionless v2: this field's own missing values, in place of the schema's. */
  missingValues?: string[];
  constraints?: Constraints;
}

/** A date, time or datetime bound is written in ISO 8601, whatever the field's format. */
export interface Constraints {
  required?: boolean;
  unique?: boolean;
  minimum?: number | string;
  maximum?: number | string;
  exclusiveMinimum?: number | string;
  exclusiveMaximum?: number | string;
  minLength?: number;
  maxLength?: number;
  /** A regular expression (RE2 syntax) the whole raw value must match. */
  pattern?: string;
  enum?: (string | number | boolean)[];
  mostly?: number;
}

export type ConstraintName = Exclude<keyof Constraints, 'mostly'>;
export const CONSTRAINTS: readonly ConstraintName[] = [
  'required',
  'unique',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'enum',
];

export const DEFAULT_MISSING_VALUES = [''];
export const DEFAULT_TRUE_VALUES = ['true', 'True', 'TRUE', '1'];
export const DEFAULT_FALSE_VALUES = ['false', 'False', 'FALSE', '0'];

const STRING_FORMATS = ['default', 'email', 'uri', 'uuid', 'binary'];
const TEMPORAL: readonly FieldType[] = ['date', 'datetime', 'time'];
const NUMERIC: readonly FieldType[] = ['number', 'integer', 'year'];
const TEXTUAL: readonly FieldType[] = ['string', 'any'];

/** ISO 8601 as bounds are written and as the default formats read; shared with the SQL that parses data. */
export const ISO = {
  date: '[0-9]{4}-[0-9]{2}-[0-9]{2}',
  time: '[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?',
  datetime: '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?',
} as const;

/** Properties the specs define besides the ones mlgate checks: accepted, and not mistaken for typos. */
const DESCRIPTIVE = ['name', 'title', 'description', 'example', 'rdfType', 'categories', 'categoriesOrdered'];
const SCHEMA_KEYS = ['fields', 'missingValues', 'primaryKey', 'uniqueKeys', 'fieldsMatch', 'foreignKeys'];
const FIELD_KEYS = [
  'type',
  'format',
  'decimalChar',
  'groupChar',
  'bareNumber',
  'trueValues',
  'falseValues',
  'mostly',
  'constraints',
  'missingValues',
];

const sources = new WeakMap<TableSchema, string>();

/** The file a schema was read from, for errors found only when its checks run. */
export function schemaSource(schema: TableSchema): string {
  return sources.get(schema) ?? 'schema';
}

/** Synchronous: a schema is a small file read once, before any data. */
export function loadSchema(path: string): TableSchema {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(e);
    throw new ConfigurationError(`cannot read the schema: ${reason}`, path);
  }
  return parseSchema(text, path);
}

/** Parses and validates a schema document; `source` names it in errors and picks JSON or YAML by extension. */
export function parseSchema(text: string, source: string): TableSchema {
  const schema = readSchema(parseDocumentText(text, source), new Reader(source));
  sources.set(schema, source);
  return schema;
}

/**
 * The document as JSON or YAML. YAML is written for 1.1 readers too (PyYAML, so frictionless-py): values
 * such as `yes`, `2024-01-31` or `08:00:00` that 1.1 would read as booleans, dates or numbers are quoted.
 */
export function formatSchema(schema: TableSchema, as: 'yaml' | 'json'): string {
  return as === 'json'
    ? `${JSON.stringify(schema, null, 2)}\n`
    : stringify(schema, { version: '1.1', lineWidth: 0 });
}

function parseDocumentText(text: string, source: string): unknown {
  const ext = extname(source).toLowerCase();
  const json = ext === '.json' || (ext !== '.yaml' && ext !== '.yml' && text.trimStart().startsWith('{'));
  if (json) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ConfigurationError(`not valid JSON: ${(e as Error).message}`, source);
    }
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0)
    throw new ConfigurationError(`not valid YAML: ${doc.errors[0].message.split('\n')[0]}`, source);
  return doc.toJS();
}

/** Walks the document, keeping the JSON path of where it is so that every error can point at it. */
class Reader {
  constructor(readonly source: string) {}

  fail(path: string, message: string): never {
    throw new ConfigurationError(message, `${this.source}: ${path}`);
  }

  object(value: unknown, path: string, what: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(path, `${what} must be an object (key: value pairs), not ${describe(value)}`);
    return value as Record<string, unknown>;
  }

  array(value: unknown, path: string, what: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `${what} must be a list, not ${describe(value)}`);
    return value;
  }

  strings(value: unknown, path: string, what: string): string[] {
    return this.array(value, path, what).map((item, i) => {
      if (typeof item !== 'string')
        this.fail(`${path}[${i}]`, `${what} must be strings; quote ${describe(item)}`);
      return item;
    });
  }

  /** Unknown keys pass (the specs allow custom properties) unless they look like a typo of a known one. */
  keys(object: Record<string, unknown>, path: string, known: readonly string[]) {
    for (const key of Object.keys(object)) {
      if (known.includes(key) || DESCRIPTIVE.includes(key)) continue;
      const near = closest(key, known);
      if (near && editDistance(key.toLowerCase(), near.toLowerCase()) <= 2)
        this.fail(`${path}${path ? '.' : ''}${key}`, `unknown property "${key}"; did you mean "${near}"?`);
    }
  }

  share(value: unknown, path: string): number {
    if (typeof value !== 'number' || !(value >= 0 && value <= 1))
      this.fail(
        path,
        `mostly must be a share between 0 and 1 (0.99 = 99% of rows pass), not ${describe(value)}`,
      );
    return value;
  }
}

function readSchema(document: unknown, r: Reader): TableSchema {
  const doc = r.object(document, '(top level)', 'a Table Schema');
  r.keys(doc, '', SCHEMA_KEYS);
  if (doc.fields === undefined) r.fail('fields', 'a Table Schema needs a "fields" list');
  const fields = r.array(doc.fields, 'fields', 'fields').map((f, i) => readField(f, `fields[${i}]`, r));
  if (fields.length === 0) r.fail('fields', 'the schema declares no fields');
  const names = new Set<string>();
  fields.forEach((field, i) => {
    if (names.has(field.name)) r.fail(`fields[${i}].name`, `field "${field.name}" is declared twice`);
    names.add(field.name);
  });
  const fieldName = (value: unknown, path: string) => {
    if (typeof value !== 'string' || !names.has(value))
      r.fail(path, `${describe(value)} is not a field of this schema; fields: ${[...names].join(', ')}`);
    return value;
  };

  const schema: TableSchema = { fields };
  if (doc.missingValues !== undefined)
    schema.missingValues = r.strings(doc.missingValues, 'missingValues', 'missingValues');
  if (doc.primaryKey !== undefined) {
    const key = typeof doc.primaryKey === 'string' ? [doc.primaryKey] : doc.primaryKey;
    schema.primaryKey = r
      .array(key, 'primaryKey', 'primaryKey')
      .map((name, i) =>
        fieldName(name, typeof doc.primaryKey === 'string' ? 'primaryKey' : `primaryKey[${i}]`),
      );
    if (schema.primaryKey.length === 0) r.fail('primaryKey', 'primaryKey names no field');
  }
  if (doc.uniqueKeys !== undefined) {
    schema.uniqueKeys = r.array(doc.uniqueKeys, 'uniqueKeys', 'uniqueKeys').map((key, i) => {
      const names = r.array(key, `uniqueKeys[${i}]`, 'each unique key (a list of field names)');
      if (names.length === 0) r.fail(`uniqueKeys[${i}]`, 'a unique key names no field');
      return names.map((name, j) => fieldName(name, `uniqueKeys[${i}][${j}]`));
    });
  }
  if (doc.fieldsMatch !== undefined) {
    if (!FIELDS_MATCH.includes(doc.fieldsMatch as FieldsMatch))
      r.fail(
        'fieldsMatch',
        `unknown fieldsMatch ${describe(doc.fieldsMatch)}; use one of ${FIELDS_MATCH.join(', ')}`,
      );
    schema.fieldsMatch = doc.fieldsMatch as FieldsMatch;
  }
  return schema;
}

function readField(value: unknown, path: string, r: Reader): Field {
  const doc = r.object(value, path, 'a field');
  if (typeof doc.name !== 'string' || doc.name === '')
    r.fail(`${path}.name`, `every field needs a "name" (the column it describes), not ${describe(doc.name)}`);
  const name = doc.name;
  r.keys(doc, path, FIELD_KEYS);
  const type = doc.type ?? 'string';
  if (typeof type !== 'string' || !FIELD_TYPES.includes(type))
    r.fail(
      `${path}.type`,
      `field "${name}" has type ${describe(type)}, which mlgate does not support; use one of ${FIELD_TYPES.join(', ')}`,
    );
  const field: Field = { name, type: type as FieldType };
  const at = (key: string) => `${path}.${key}`;
  const only = (key: string, types: readonly FieldType[]) => {
    if (!types.includes(field.type))
      r.fail(at(key), `"${key}" does not apply to field "${name}" of type ${field.type}`);
  };

  if (doc.format !== undefined) {
    if (typeof doc.format !== 'string')
      r.fail(at('format'), `format must be a string, not ${describe(doc.format)}`);
    field.format = readFormat(field, doc.format, at('format'), r);
  }
  for (const key of ['decimalChar', 'groupChar'] as const) {
    if (doc[key] === undefined) continue;
    only(key, key === 'decimalChar' ? ['number'] : ['number', 'integer']);
    if (typeof doc[key] !== 'string' || doc[key].length !== 1)
      r.fail(at(key), `${key} must be a single character, not ${describe(doc[key])}`);
    field[key] = doc[key];
  }
  if (doc.bareNumber !== undefined) {
    only('bareNumber', ['number', 'integer']);
    if (typeof doc.bareNumber !== 'boolean') r.fail(at('bareNumber'), 'bareNumber must be true or false');
    field.bareNumber = doc.bareNumber;
  }
  for (const key of ['trueValues', 'falseValues'] as const) {
    if (doc[key] === undefined) continue;
    only(key, ['boolean']);
    field[key] = r.strings(doc[key], at(key), key);
  }
  if (doc.mostly !== undefined) field.mostly = r.share(doc.mostly, at('mostly'));
  if (doc.missingValues !== undefined)
    field.missingValues = r.strings(doc.missingValues, at('missingValues'), 'missingValues');
  if (doc.constraints !== undefined)
    field.constraints = readConstraints(field, doc.constraints, at('constraints'), r);
  return field;
}

function readFormat(field: Field, format: string, path: string, r: Reader): string {
  if (format === 'default') return format;
  if (field.type === 'string') {
    if (!STRING_FORMATS.includes(format))
      r.fail(
        path,
        `unknown format "${format}" for string field "${field.name}"; use ${STRING_FORMATS.join(', ')}`,
      );
    return format;
  }
  if (TEMPORAL.includes(field.type)) {
    const pattern = format.startsWith('fmt:') ? format.slice(4) : format;
    if (pattern !== 'any' && !pattern.includes('%'))
      r.fail(
        path,
        `format of ${field.type} field "${field.name}" must be "default", "any" or a strptime pattern like "%d/%m/%Y"`,
      );
    return pattern;
  }
  return r.fail(path, `field "${field.name}" of type ${field.type} takes no format other than "default"`);
}

function readConstraints(field: Field, value: unknown, path: string, r: Reader): Constraints {
  const doc = r.object(value, path, 'constraints');
  const constraints: Constraints = {};
  for (const [key, v] of Object.entries(doc)) {
    const at = `${path}.${key}`;
    if (key === 'mostly') {
      constraints.mostly = r.share(v, at);
      continue;
    }
    if (!CONSTRAINTS.includes(key as ConstraintName))
      r.fail(
        at,
        `field "${field.name}" has unknown constraint "${key}"; did you mean "${closest(key, CONSTRAINTS)}"? Known: ${CONSTRAINTS.join(', ')}, and mlgate's mostly`,
      );
    const name = key as ConstraintName;
    const bad = (expected: string): never =>
      r.fail(at, `${name} of ${field.type} field "${field.name}" must be ${expected}, not ${describe(v)}`);
    switch (name) {
      case 'required':
      case 'unique':
        if (typeof v !== 'boolean') bad('true or false');
        constraints[name] = v as boolean;
        break;
      case 'minLength':
      case 'maxLength':
        if (!TEXTUAL.includes(field.type))
          r.fail(at, `${name} applies to string fields, not ${field.type} "${field.name}"`);
        if (!Number.isInteger(v) || (v as number) < 0) bad('a whole number >= 0');
        constraints[name] = v as number;
        break;
      case 'pattern':
        if (typeof v !== 'string' || v === '') bad('a regular expression');
        constraints.pattern = v as string;
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        if (!NUMERIC.includes(field.type) && !TEMPORAL.includes(field.type))
          r.fail(
            at,
            `${name} does not apply to ${field.type} field "${field.name}" (numbers, dates and times only)`,
          );
        // Temporal and numeric fields only (checked above), whose values are never booleans.
        constraints[name] = typedValue(field, v, bad) as number | string;
        break;
      case 'enum': {
        const values = Array.isArray(v) && v.length > 0 ? v : bad('a non-empty list');
        constraints.enum = values.map((item, i) =>
          typedValue(field, item, (expected) =>
            r.fail(
              `${at}[${i}]`,
              `enum values of ${field.type} field "${field.name}" must be ${expected}, not ${describe(item)}`,
            ),
          ),
        );
        break;
      }
    }
  }
  return constraints;
}

/** A constraint value of the field's logical type, as JSON/YAML can carry it. */
function typedValue(field: Field, v: unknown, bad: (expected: string) => never): string | number | boolean {
  switch (field.type) {
    case 'number':
    case 'integer':
    case 'year': {
      const whole = field.type !== 'number';
      if (typeof v !== 'number' || !Number.isFinite(v) || (whole && !Number.isInteger(v)))
        return bad(whole ? 'a whole number' : 'a number');
      return v;
    }
    case 'boolean':
      return typeof v === 'boolean' ? v : bad('true or false');
    case 'date':
    case 'time':
    case 'datetime': {
      const iso = new RegExp(`^(${ISO[field.type]})$`);
      if (typeof v !== 'string' || !iso.test(v))
        return bad(`an ISO 8601 ${field.type} in quotes (${EXAMPLE[field.type]})`);
      return v;
    }
    default:
      return typeof v === 'string' ? v : bad('a string (quote it)');
  }
}

const EXAMPLE = { date: '"2024-01-31"', time: '"13:45:00"', datetime: '"2024-01-31T13:45:00Z"' } as const;

function closest(name: string, known: readonly string[]): string {
  const lower = name.toLowerCase();
  return [...known].sort(
    (a, b) => editDistance(lower, a.toLowerCase()) - editDistance(lower, b.toLowerCase()),
  )[0];
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}
