import { ConfigurationError } from '../errors.js';
import type { GateResult } from '../report/types.js';

export type Operator = GateResult['operator'];

/** What the metric is compared with: a fixed number, or the same metric measured on the baseline. */
export type Threshold =
  | { kind: 'value'; value: number }
  | { kind: 'baseline'; adjust?: { op: '+' | '-' | '*'; value: number } };

export interface Gate {
  /** The expression as written, without a trailing comment: shown in reports. */
  expression: string;
  /**
   * Canonical metric name, the key it has in a metrics record: quotes removed, segments joined with `.`
   * (`recall."high risk"` -> `recall.high risk`), function form kept (`null_fraction(age)`).
   */
  metric: string;
  /** `slice.<metric>`: judged once per eligible slice instead of once overall. */
  perSlice: boolean;
  operator: Operator;
  threshold: Threshold;
  /** Where the gate came from, so later errors (unknown metric) can point at it. */
  source: string;
  line: number;
}

// Longest first, so `>=` is never read as `>` followed by `=`.
const OPERATORS: readonly Operator[] = ['>=', '<=', '==', '!=', '>', '<'];
const OPERATOR_LIST = '>=, <=, >, <, ==, !=';
const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
// Class labels are often numbers (`recall.0`) or kebab-case; anything else must be quoted.
const SEGMENT = /[A-Za-z0-9_][A-Za-z0-9_-]*/y;
const NUMBER = /[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?/y;
const SLICE_PREFIX = 'slice';

/**
 * Parses the gate language: one `<metric> <op> <rhs>` per line, blank lines and `#` comments ignored.
 * Throws a ConfigurationError naming `source`, the line and what was expected.
 */
export function parseGates(text: string, source = 'gates'): Gate[] {
  const gates: Gate[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const expression = stripComment(raw, source, index + 1).trim();
    if (expression !== '') gates.push(new LineParser(expression, source, index + 1).gate());
  });
  return gates;
}

/** Writes a canonical metric name the way a user would type it, quoting what the grammar cannot read bare. */
export function formatMetricName(name: string): string {
  const call = /^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$/.exec(name);
  if (call) return `${call[1]}(${/^[A-Za-z0-9_.-]+$/.test(call[2]) ? call[2] : quote(call[2])})`;
  const dot = name.indexOf('.');
  if (dot < 0) return name;
  const rest = name.slice(dot + 1);
  const plain = /^[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$/.test(rest);
  return `${name.slice(0, dot)}.${plain ? rest : quote(rest)}`;
}

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}

/** Drops a `#` comment, but not a `#` inside a quoted label. */
function stripComment(line: string, source: string, lineNumber: number): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '#' && !quoted) return line.slice(0, i);
  }
  if (quoted) {
    throw new ConfigurationError(
      `\`${line.trim()}\`: expected a closing quote (")`,
      where(source, lineNumber),
    );
  }
  return line;
}

function where(source: string, line: number): string {
  return `${source}, line ${line}`;
}

/** A cursor over one expression; every `expect*` either consumes what it names or throws saying so. */
class LineParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly source: string,
    private readonly line: number,
  ) {}

  gate(): Gate {
    const { metric, perSlice } = this.metric();
    this.skipSpace();
    const operator = this.operator();
    this.skipSpace();
    const threshold = this.threshold();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('the end of the expression');
    return {
      expression: this.text,
      metric,
      perSlice,
      operator,
      threshold,
      source: this.source,
      line: this.line,
    };
  }

  private metric(): { metric: string; perSlice: boolean } {
    const expected = 'a metric name (e.g. accuracy, recall.yes, slice.accuracy, null_fraction(age))';
    const name = this.match(IDENTIFIER) ?? this.fail(expected);
    if (name === SLICE_PREFIX && this.text[this.pos] === '.') {
      this.pos++;
      const inner = this.match(IDENTIFIER) ?? this.fail(`a metric name after "${SLICE_PREFIX}."`);
      return { metric: this.qualifiedName(inner), perSlice: true };
    }
    return { metric: this.qualifiedName(name), perSlice: false };
  }

  /** The part after the leading identifier: `(argument)` or any number of `.segment`s. */
  private qualifiedName(base: string): string {
    if (this.text[this.pos] === '(') {
      this.pos++;
      this.skipSpace();
      const argument = this.quoted() ?? this.bareArgument();
      this.skipSpace();
      if (this.text[this.pos] !== ')') this.fail('a closing ")"');
      this.pos++;
      return `${base}(${argument})`;
    }
    const segments = [base];
    while (this.text[this.pos] === '.') {
      this.pos++;
      segments.push(
        this.quoted() ?? this.match(SEGMENT) ?? this.fail('a name or a "quoted label" after "."'),
      );
    }
    return segments.join('.');
  }

  private bareArgument(): string {
    const end = this.text.indexOf(')', this.pos);
    if (end < 0) this.fail('a closing ")"');
    const argument = this.text.slice(this.pos, end).trim();
    if (argument === '' || argument.includes('"')) this.fail('a column name inside "( )"');
    this.pos = end;
    return argument;
  }

  private quoted(): string | undefined {
    if (this.text[this.pos] !== '"') return undefined;
    let value = '';
    for (let i = this.pos + 1; i < this.text.length; i++) {
      const c = this.text[i];
      if (c === '"') {
        if (value === '') this.fail('a non-empty label between the quotes');
        this.pos = i + 1;
        return value;
      }
      if (c === '\\' && i + 1 < this.text.length) i++;
      value += this.text[i];
    }
    return this.fail('a closing quote (")');
  }

  private operator(): Operator {
    const op = OPERATORS.find((candidate) => this.text.startsWith(candidate, this.pos));
    if (op) {
      this.pos += op.length;
      return op;
    }
    const rest = this.text.slice(this.pos);
    const hint = rest.startsWith('=>')
      ? ' (did you mean >=?)'
      : rest.startsWith('=<')
        ? ' (did you mean <=?)'
        : rest.startsWith('=')
          ? ' (use == to test equality)'
          : '';
    return this.fail(`a comparison operator (${OPERATOR_LIST})${hint}`);
  }

  private threshold(): Threshold {
    if (/^baseline\b/.test(this.text.slice(this.pos))) {
      this.pos += 'baseline'.length;
      this.skipSpace();
      if (this.pos === this.text.length) return { kind: 'baseline' };
      const op = this.text[this.pos];
      if (op !== '+' && op !== '-' && op !== '*') return this.fail('+, - or * after baseline, or nothing');
      this.pos++;
      this.skipSpace();
      return { kind: 'baseline', adjust: { op, value: this.number(`a number after "baseline ${op}"`) } };
    }
    return { kind: 'value', value: this.number('a number (e.g. 0.9, 1e-3, 5%) or baseline') };
  }

  private number(expected: string): number {
    const token = this.match(NUMBER) ?? this.fail(expected);
    const percent = token.endsWith('%');
    const value = Number(percent ? token.slice(0, -1) : token);
    if (!Number.isFinite(value)) this.fail(`a finite number, not ${token}`);
    return percent ? value / 100 : value;
  }

  private match(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.pos;
    const found = pattern.exec(this.text);
    if (!found) return undefined;
    this.pos += found[0].length;
    return found[0];
  }

  private skipSpace(): void {
    while (this.text[this.pos] === ' ' || this.text[this.pos] === '\t') this.pos++;
  }

  private fail(expected: string): never {
    const next = this.text.slice(this.pos).split(/\s/)[0];
    const found = next === '' ? 'the end of the line' : `"${next}"`;
    throw new ConfigurationError(
      `\`${this.text}\`: expected ${expected} at column ${this.pos + 1}, found ${found}`,
      where(this.source, this.line),
    );
  }
}
