import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSchema, loadSchema, parseSchema } from '../src/schema/index.js';
import { configurationError } from './support/errors.js';

const fixture = (name: string) => resolve(import.meta.dirname, 'fixtures', 'schema', name);

describe('loadSchema', () => {
  it('reads YAML, with the spec defaults left for the checks to apply', () => {
    const schema = loadSchema(fixture('typed.schema.yaml'));
    expect(schema.fields).toHaveLength(13);
    expect(schema.primaryKey).toEqual(['id']);
    expect(schema.uniqueKeys).toEqual([['status'], ['id', 'status']]);
    expect(schema.missingValues).toEqual(['', 'n/a']);
    expect(schema.fields[1]).toEqual({
      name: 'name',
      type: 'string',
      constraints: { required: true, minLength: 3, maxLength: 3 },
    });
    expect(schema.fields[11]).toMatchObject({ decimalChar: ',', groupChar: '.' });
  });

  it('names the file when it is missing', () => {
    expect(configurationError(() => loadSchema(fixture('absent.yaml'))).message).toMatch(
      /absent\.yaml: .*not found/,
    );
  });

  it('refuses a file that is not JSON, or not YAML, naming it', () => {
    expect(configurationError(() => loadSchema(fixture('not-json.json'))).message).toMatch(
      /not-json\.json: not valid JSON/,
    );
    expect(configurationError(() => loadSchema(fixture('not-yaml.yaml'))).message).toMatch(
      /not-yaml\.yaml: not valid YAML/,
    );
  });

  it('refuses an unknown type, naming the field, the type and the supported ones', () => {
    const { message } = configurationError(() => loadSchema(fixture('unknown-type.yaml')));
    expect(message).toContain('unknown-type.yaml: fields[1].type');
    expect(message).toContain('field "when" has type "yearmonth"');
    expect(message).toContain('string, number, integer, boolean, date, datetime, time, year, any');
  });

  it('refuses an unknown constraint, with its JSON path and the closest known one', () => {
    const { message } = configurationError(() => loadSchema(fixture('unknown-constraint.json')));
    expect(message).toContain('unknown-constraint.json: fields[1].constraints.minimun');
    expect(message).toContain('did you mean "minimum"?');
  });
});

describe('parseSchema', () => {
  const error = (text: string) => configurationError(() => parseSchema(text, 's.yaml')).message;

  it('reads JSON by content when the name says nothing, and takes a primary key as a string or a list', () => {
    const schema = parseSchema(
      '{"fields": [{"name": "a"}, {"name": "b"}], "primaryKey": ["a", "b"]}',
      'inline',
    );
    expect(schema).toEqual({
      fields: [
        { name: 'a', type: 'string' },
        { name: 'b', type: 'string' },
      ],
      primaryKey: ['a', 'b'],
    });
  });

  it('refuses constraint values of the wrong type, naming the path', () => {
    expect(error('fields: [{name: age, type: integer, constraints: {minimum: "5"}}]')).toMatch(
      /^s\.yaml: fields\[0\]\.constraints\.minimum: minimum of integer field "age" must be a whole number, not "5"/,
    );
    expect(error('fields: [{name: d, type: date, constraints: {maximum: 31/01/2024}}]')).toMatch(
      /fields\[0\]\.constraints\.maximum: .*ISO 8601 date/,
    );
    expect(error('fields: [{name: a, constraints: {required: "yes"}}]')).toMatch(
      /required .* must be true or false/,
    );
    expect(error('fields: [{name: a, constraints: {enum: [x, 1]}}]')).toMatch(
      /fields\[0\]\.constraints\.enum\[1\]: .*quote it/,
    );
    expect(error('fields: [{name: a, constraints: {enum: []}}]')).toMatch(/must be a non-empty list/);
    expect(error('fields: [{name: a, constraints: {maxLength: -1}}]')).toMatch(/whole number >= 0/);
    expect(error('fields: [{name: a, constraints: {minimum: 1}}]')).toMatch(
      /minimum does not apply to string field "a"/,
    );
    expect(error('fields: [{name: a, type: integer, constraints: {minLength: 1}}]')).toMatch(
      /minLength applies to string/,
    );
  });

  it('refuses a bad mostly, keys naming unknown fields and unknown fieldsMatch modes', () => {
    expect(error('fields: [{name: a, mostly: 1.5}]')).toMatch(
      /fields\[0\]\.mostly: mostly must be a share between 0 and 1/,
    );
    expect(error('fields: [{name: a}]\nprimaryKey: [a, b]')).toMatch(
      /primaryKey\[1\]: "b" is not a field of this schema/,
    );
    expect(error('fields: [{name: a}]\nuniqueKeys: [a]')).toMatch(
      /uniqueKeys\[0\]: each unique key .* must be a list/,
    );
    expect(error('fields: [{name: a}]\nfieldsMatch: loose')).toMatch(
      /unknown fieldsMatch "loose"; use one of exact, equal/,
    );
  });

  it('refuses documents that are not a schema, duplicate fields and typos of known properties', () => {
    expect(error('- a\n- b')).toMatch(/\(top level\): a Table Schema must be an object/);
    expect(error('title: x')).toMatch(/needs a "fields" list/);
    expect(error('fields: [{name: a}, {name: a}]')).toMatch(/fields\[1\]\.name: field "a" is declared twice/);
    expect(error('fields: [{name: a}]\nprimarykey: a')).toMatch(
      /primarykey: unknown property .* did you mean "primaryKey"/,
    );
    expect(error('fields: [{name: a, tpye: integer}]')).toMatch(/fields\[0\]\.tpye: .* did you mean "type"/);
    expect(error('fields: [{name: a, type: string, format: "%Y"}]')).toMatch(
      /unknown format "%Y" for string field/,
    );
    expect(error('fields: [{name: a, type: date, format: "dd/mm"}]')).toMatch(/strptime pattern/);
  });

  it('accepts the descriptive properties of the spec', () => {
    const schema = parseSchema(
      'title: t\nfields: [{name: a, title: A, description: the a, example: x}]',
      's.yaml',
    );
    expect(schema.fields).toEqual([{ name: 'a', type: 'string' }]);
  });
});

describe('formatSchema', () => {
  it('writes YAML that YAML 1.1 readers read as strings too, and JSON, both read back the same', () => {
    const schema = parseSchema(
      'fields: [{name: s, constraints: {enum: ["yes", "2024-01-31", "08:00:00", plain]}}, {name: d, type: date, constraints: {minimum: "2024-01-01"}}]',
      's.yaml',
    );
    const yaml = formatSchema(schema, 'yaml');
    expect(yaml).toContain('- "yes"');
    expect(yaml).toContain('- "08:00:00"');
    expect(yaml).toContain('minimum: "2024-01-01"');
    expect(parseSchema(yaml, 'back.yaml')).toEqual(schema);
    expect(parseSchema(formatSchema(schema, 'json'), 'back.json')).toEqual(schema);
  });
});
