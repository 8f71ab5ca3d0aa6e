import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, parse, resolve, sep } from 'node:path';
import { ConfigurationError } from '../errors.js';

/**
 * Raw input values by their action.yml name, defaults already applied (by the runner, or by the
 * CLI from action.yml). Commands parse them into a typed object with the helpers below, so every
 * input is parsed once and every error names the input.
 */
export interface RawInputs {
  get(name: string): string;
}

const where = (name: string) => `input "${name}"`;

export const input = {
  string(raw: RawInputs, name: string): string {
    return raw.get(name).trim();
  },
  required(raw: RawInputs, name: string, hint: string): string {
    const value = raw.get(name).trim();
    if (value === '') throw new ConfigurationError(`is required: ${hint}`, where(name));
    return value;
  },
  optional(raw: RawInputs, name: string): string | undefined {
    const value = raw.get(name).trim();
    return value === '' ? undefined : value;
  },
  /** One item per line or comma-separated; blank items dropped. */
  list(raw: RawInputs, name: string): string[] {
    return raw
      .get(name)
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter(Boolean);
  },
  /** One item per line, trimmed, blank lines dropped: for paths and URLs, which may hold commas. */
  lineList(raw: RawInputs, name: string): string[] {
    return raw
      .get(name)
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
  },
  /** Lines kept whole (gates contain commas inside function calls). */
  lines(raw: RawInputs, name: string): string {
    return raw.get(name);
  },
  bool(raw: RawInputs, name: string): boolean {
    const value = raw.get(name).trim().toLowerCase();
    if (['true', 'yes', '1', 'on'].includes(value)) return true;
    if (['false', 'no', '0', 'off', ''].includes(value)) return false;
    throw new ConfigurationError(`expected true or false, got "${raw.get(name)}"`, where(name));
  },
  int(raw: RawInputs, name: string, min = 0): number {
    const text = raw.get(name).trim();
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || value < min) {
      throw new ConfigurationError(`expected a whole number >= ${min}, got "${text}"`, where(name));
    }
    return value;
  },
  /** A whole number, or `auto` (or empty): undefined, for the command to choose. */
  intOrAuto(raw: RawInputs, name: string, min = 0): number | undefined {
    const text = raw.get(name).trim().toLowerCase();
    return text === 'auto' || text === '' ? undefined : input.int(raw, name, min);
  },
  /** A positive number (`0.05`, `5%` = 0.05 when `percent`), or undefined when empty. */
  number(raw: RawInputs, name: string, options: { min?: number; max?: number; percent?: boolean } = {}) {
    const text = raw.get(name).trim();
    if (text === '') return undefined;
    const percent = options.percent === true && text.endsWith('%');
    const value = Number(percent ? text.slice(0, -1) : text) / (percent ? 100 : 1);
    const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY } = options;
    if (!Number.isFinite(value) || value < min || value > max) {
      const range = [Number.isFinite(min) ? `>= ${min}` : '', Number.isFinite(max) ? `<= ${max}` : '']
        .filter(Boolean)
        .join(' and ');
      throw new ConfigurationError(
        `expected a number${range ? ` ${range}` : ''}, got "${text}"`,
        where(name),
      );
    }
    return value;
  },
  /** Positive numbers, one per line or comma-separated (a sweep: `1,8,64`). */
  numbers(raw: RawInputs, name: string, options: { integer?: boolean } = {}): number[] {
    return input.list(raw, name).map((text) => {
      const value = Number(text);
      if (!(value > 0) || !Number.isFinite(value) || (options.integer && !Number.isInteger(value))) {
        throw new ConfigurationError(
          `expected ${options.integer ? 'whole numbers' : 'numbers'} > 0, got "${text}"`,
          where(name),
        );
      }
      return value;
    });
  },
  /** A duration in milliseconds: `500ms`, `5s`, `2m`, `1h`, or a plain number of seconds. */
  duration(raw: RawInputs, name: string): number {
    const text = raw.get(name).trim();
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text);
    if (!m) {
      throw new ConfigurationError(
        `expected a duration such as 500ms, 5s, 2m or 1h, got "${text}"`,
        where(name),
      );
    }
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
    return Number(m[1]) * unit;
  },
  choice<T extends string>(raw: RawInputs, name: string, choices: readonly T[]): T {
    const value = raw.get(name).trim().toLowerCase();
    if (!choices.includes(value as T)) {
      throw new ConfigurationError(
        `expected one of ${choices.join(', ')}, got "${raw.get(name)}"`,
        where(name),
      );
    }
    return value as T;
  },
};

/** Wraps raw inputs to record which names a command reads: a test checks them against action.yml. */
export function recording(raw: RawInputs): RawInputs & { names: Set<string> } {
  const names = new Set<string>();
  return {
    names,
    get(name: string) {
      names.add(name);
      return raw.get(name);
    },
  };
}

/**
 * A config input given inline (YAML or JSON) or as the path of a file holding it: the text, and where it
 * came from for error messages. A lone word ending in .yml/.yaml/.json that is not a file is a path
 * with a typo, not inline YAML.
 */
export function inlineOrFile(text: string, name: string): { text: string; where: string } {
  const path = text.trim();
  if (path.includes('\n') || !existsSync(path)) {
    if (/^[^\s:{]+\.(ya?ml|json)$/i.test(path)) {
      throw new ConfigurationError(
        `file not found: ${path}; give inline YAML/JSON or an existing file`,
        where(name),
      );
    }
    return { text, where: where(name) };
  }
  try {
    return { text: readFileSync(path, 'utf8'), where: path };
  } catch (e) {
    throw new ConfigurationError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code})`, where(name));
  }
}

/** `Name: value` per line. The message never repeats a line: it may hold a token. */
export function parseHeaders(text: string, input = 'headers'): Record<string, string> {
  const headers: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const colon = line.indexOf(':');
    const header = line.slice(0, colon).trim();
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
      throw new ConfigurationError(`line ${i + 1} is not "Name: value"`, where(input));
    }
    headers[header] = line.slice(colon + 1).trim();
  });
  return headers;
}

export function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Credentials in a URL stay out of the report. */
export function redactUrl(url: string): string {
  const u = safeUrl(url);
  if (!u) return url;
  if (u.username || u.password) [u.username, u.password] = ['***', ''];
  return u.toString();
}

const GLOB_CHARS = /[*?[{]/;

/**
 * The files an input names: paths or globs (`*`, `?`, `[abc]`, `{a,b}`, and `**` for any depth), resolved
 * from the working directory; the matches of each glob sorted, duplicates dropped. A pattern that matches no
 * file is an error naming it: an empty merge or an artifact downloaded to another folder must not pass.
 * Pure JavaScript, so a command that needs no data engine (a merge of reports) does not load one.
 */
export function expandPaths(patterns: string[], name: string): string[] {
  const files: string[] = [];
  for (const pattern of patterns) {
    const absolute = resolve(pattern);
    if (!GLOB_CHARS.test(pattern) && !isFile(absolute) && existsSync(absolute))
      throw new ConfigurationError(`${pattern} is not a file`, where(name));
    const matches = GLOB_CHARS.test(pattern) ? globFiles(absolute) : isFile(absolute) ? [absolute] : [];
    if (matches.length === 0) {
      const what = GLOB_CHARS.test(pattern)
        ? `the pattern "${pattern}" matches no file`
        : `file not found: ${pattern}`;
      throw new ConfigurationError(
        `${what} (relative paths are resolved from ${process.cwd()})`,
        where(name),
      );
    }
    for (const file of matches) if (!files.includes(file)) files.push(file);
  }
  return files;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function globFiles(absolute: string): string[] {
  const { root } = parse(absolute);
  const segments = absolute.slice(root.length).split(sep).filter(Boolean);
  // A trailing ** means every file below, as it does in DuckDB's glob and in most shells.
  if (segments[segments.length - 1] === '**') segments.push('*');
  const found = new Set<string>();
  walk(root, segments, found);
  return [...found].sort();
}

function walk(dir: string, segments: string[], found: Set<string>): void {
  if (segments.length === 0) {
    if (isFile(dir)) found.add(dir);
    return;
  }
  const [head, ...rest] = segments;
  if (!GLOB_CHARS.test(head)) {
    walk(join(dir, head), rest, found);
    return;
  }
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return; // not a folder, or unreadable: nothing matches below it
  }
  if (head === '**') {
    walk(dir, rest, found);
    for (const entry of entries) {
      const path = join(dir, entry);
      if (isDirectory(path)) walk(path, segments, found);
    }
    return;
  }
  const pattern = segmentPattern(head);
  for (const entry of entries) if (pattern.test(entry)) walk(join(dir, entry), rest, found);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One path segment of a glob as a regular expression. */
function segmentPattern(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    const close = c === '[' ? segment.indexOf(']', i + 2) : c === '{' ? segment.indexOf('}', i + 1) : -1;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[' && close > 0) {
      const body = segment.slice(i + 1, close);
      source += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`.replace(/\\/g, '\\\\');
      i = close;
    } else if (c === '{' && close > 0) {
      source += `(?:${segment
        .slice(i + 1, close)
        .split(',')
        .map(escapeRegExp)
        .join('|')})`;
      i = close;
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}
