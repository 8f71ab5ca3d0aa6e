// Frictionless Table Schema for validate-data: read the document, check data against it in DuckDB,
// infer one from data, and write the rows that fail.
export {
  type CheckExample,
  type CheckName,
  type CheckResult,
  duplicateRows,
  type FieldsMatchResult,
  nullFractions,
  runSchemaChecks,
  type SchemaCheckResults,
} from './checks.js';
export { type FailingRows, writeFailingRows } from './failing-rows.js';
export { type InferOptions, inferSchema } from './infer.js';
export {
  CONSTRAINTS,
  type ConstraintName,
  type Constraints,
  FIELD_TYPES,
  FIELDS_MATCH,
  type Field,
  type FieldsMatch,
  type FieldType,
  formatSchema,
  loadSchema,
  parseSchema,
  type TableSchema,
} from './table-schema.js';
