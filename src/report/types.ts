/**
 * The JSON report: the stable interface between steps. Bump REPORT_SCHEMA_VERSION on any change
 * that removes or renames a field; adding fields is compatible. Documented in docs/report-schema.md.
 */
export const REPORT_SCHEMA_VERSION = 1;

export interface GateResult {
  /** The expression as the user wrote it, e.g. `f1_macro >= baseline - 0.01`. */
  expression: string;
  metric: string;
  operator: '>=' | '<=' | '>' | '<' | '==' | '!=';
  /** The metric's value; null when it could not be computed (that fails the gate). */
  actual: number | null;
  /** The threshold the actual value was compared with, after resolving `baseline`; null if unresolvable. */
  threshold: number | null;
  passed: boolean;
  /** Scope the gate was evaluated in: `overall`, or `slice:<column>=<value>` for per-slice gates. */
  scope: string;
  /** Why it failed when the reason is not the comparison itself (NaN, no baseline, ...). */
  reason?: string;
  /**
   * For a `baseline` gate on an estimate (a latency percentile): the confidence interval of the actual
   * value. The gate fails only when the whole interval breaks the threshold.
   */
  interval?: [number, number];
}

export interface Report {
  schemaVersion: number;
  command: string;
  /** mlgate version that produced the report. */
  version: string;
  createdAt: string;
  passed: boolean;
  gates: GateResult[];
  /** Headline metrics, flat name -> value (null = could not be computed). */
  metrics: Record<string, number | null>;
  /** Things the user should know that did not fail a gate. */
  warnings: string[];
  /** Set when the command could not run (bad configuration or input, exit code 2): what went wrong. */
  error?: { message: string };
  /** Command-specific details (validate-model: model, data, confusion matrix, per class, slices, baseline). */
  details: Record<string, unknown>;
}
