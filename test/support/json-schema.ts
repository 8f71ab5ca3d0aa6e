/**
 * A small checker for the subset of JSON Schema (2020-12) and OpenAPI 3.0 schema objects that our contracts
 * use: type (string or list), nullable, const, enum, required, properties, additionalProperties, items,
 * oneOf, local $ref, minimum, maximum, minLength, pattern, format date-time and uri. Keywords outside the subset are ignored,
 * so a schema excerpt that elides a sub-schema (`{}`) accepts anything there.
 */
export type Schema = Record<string, any>;

/** Problems found, each as `<json pointer>: <what is wrong>`; empty when the value conforms. */
export function validate(value: unknown, schema: Schema, root: Schema = schema, path = ''): string[] {
  if (typeof schema.$ref === 'string') return validate(value, resolveRef(root, schema.$ref), root, path);
  const at = path === '' ? '/' : path;
  if (value === null && schema.nullable === true) return [];
  if ('const' in schema && !deepEqual(value, schema.const))
    return [`${at}: expected ${JSON.stringify(schema.const)}`];
  if (Array.isArray(schema.enum) && !schema.enum.some((option: unknown) => deepEqual(option, value))) {
    return [`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`];
  }
  if (Array.isArray(schema.oneOf)) {
    const matches = schema.oneOf.filter((option: Schema) => validate(value, option, root, path).length === 0);
    if (matches.length !== 1)
      return [`${at}: matches ${matches.length} of the oneOf schemas, expected exactly 1`];
  }
  if (schema.type !== undefined) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((type) => hasType(value, type)))
      return [`${at}: expected ${types.join(' or ')}, got ${typeOf(value)}`];
  }
  return [...validateScalar(value, schema, at), ...validateContainer(value, schema, root, path)];
}

function validateScalar(value: unknown, schema: Schema, at: string): string[] {
  const problems: string[] = [];
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum)
      problems.push(`${at}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum)
      problems.push(`${at}: above ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) {
      problems.push(`${at}: shorter than ${schema.minLength}`);
    }
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
      problems.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (
      schema.format === 'date-time' &&
      !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)
    ) {
      problems.push(`${at}: ${JSON.stringify(value)} is not an RFC 3339 date-time`);
    }
    if (schema.format === 'uri' && !URL.canParse(value))
      problems.push(`${at}: ${JSON.stringify(value)} is not a URI`);
  }
  return problems;
}

function validateContainer(value: unknown, schema: Schema, root: Schema, path: string): string[] {
  if (Array.isArray(value)) {
    return schema.items ? value.flatMap((item, i) => validate(item, schema.items, root, `${path}/${i}`)) : [];
  }
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  const at = path === '' ? '/' : path;
  const problems: string[] = (schema.required ?? [])
    .filter((key: string) => !(key in record))
    .map((key: string) => `${at}: missing required property "${key}"`);
  const properties: Record<string, Schema> = schema.properties ?? {};
  for (const [key, item] of Object.entries(record)) {
    const child = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (key in properties) problems.push(...validate(item, properties[key], root, child));
    else if (schema.additionalProperties === false) problems.push(`${at}: unexpected property "${key}"`);
    else if (typeof schema.additionalProperties === 'object') {
      problems.push(...validate(item, schema.additionalProperties, root, child));
    }
  }
  return problems;
}

/** Follows a local `#/a/b` reference inside the document. */
export function resolveRef(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
  let node: any = root;
  for (const part of ref.slice(2).split('/')) {
    node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (node === undefined) throw new Error(`$ref ${ref} does not resolve`);
  }
  return node;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
