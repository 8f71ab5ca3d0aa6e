import { ConfigurationError, ExitCode } from '../errors.js';
import { editDistance } from '../gates/evaluate.js';
import type { Annotation, Logger } from '../logging.js';
import type { Report } from '../report/types.js';
import { type ActionSpec, loadActionSpec } from './action-spec.js';
import type { Command } from './command.js';
import { errorMessage, execute, summaryPathOf } from './execute.js';
import type { RawInputs } from './inputs.js';

const color = (code: number) => (s: string) =>
  process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[${code}m${s}\x1b[0m` : s;
const red = color(31);
const green = color(32);
const dim = color(2);

export class TerminalLogger implements Logger {
  private lastProgress = 0;
  private progressShown = false;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly verbose = false,
  ) {}
  debug(message: string) {
    if (this.verbose) this.line(dim(message));
  }
  info(message: string) {
    this.line(message);
  }
  warning(message: string, where?: Annotation) {
    this.line(`warning: ${where?.file ? `${where.file}: ` : ''}${message}`);
  }
  error(message: string, where?: Annotation) {
    this.line(`error: ${where?.file ? `${where.file}: ` : ''}${message}`);
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.line(`▸ ${name}`);
    return fn();
  }
  /** On a terminal, one line rewritten in place ten times a second at most. */
  progress(label: string, done: number, total?: number) {
    if (!this.out.isTTY) return;
    const now = Date.now();
    if (now - this.lastProgress < 100) return;
    this.lastProgress = now;
    const pct = total ? ` (${Math.floor((100 * done) / total)}%)` : '';
    this.out.write(
      `\r  ${label}: ${done.toLocaleString('en-US')}${total ? ` / ${total.toLocaleString('en-US')}` : ''}${pct}\x1b[K`,
    );
    this.progressShown = true;
  }
  private line(text: string) {
    if (this.progressShown) {
      this.out.write('\r\x1b[K');
      this.progressShown = false;
    }
    this.out.write(`${text}\n`);
  }
}

/** Parses `--name value`, `--name=value` and repeated flags (joined by newlines) against action.yml's inputs. */
export function parseFlags(argv: string[], spec: ActionSpec): Map<string, string> {
  const values = new Map<string, string>();
  const names = Object.keys(spec.inputs);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--'))
      throw new ConfigurationError(`unexpected argument "${arg}"; inputs are given as --name value`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (!names.includes(name)) {
      const closest = [...names].sort((a, b) => editDistance(name, a) - editDistance(name, b))[0];
      throw new ConfigurationError(
        `unknown flag --${name}${closest ? ` (did you mean --${closest}?)` : ''}; run with --help for the list`,
      );
    }
    if (value === undefined) {
      const next = argv[i + 1];
      // A flag followed by another flag (or nothing) is a switch: `--comment` means true.
      value = next === undefined || next.startsWith('--') ? 'true' : argv[++i];
    }
    values.set(name, values.has(name) ? `${values.get(name)}\n${value}` : value);
  }
  return values;
}

export function terminalInputs(flags: Map<string, string>, spec: ActionSpec, env = process.env): RawInputs {
  return {
    get(name: string) {
      const flag = flags.get(name);
      if (flag !== undefined) return flag;
      if (name === 'github-token') return env.GITHUB_TOKEN ?? '';
      return spec.inputs[name]?.default ?? '';
    },
  };
}

export function helpText(command: string, spec: ActionSpec): string {
  const lines = [
    `mlgate ${command}: ${spec.description}`,
    '',
    'Inputs (flags are the action.yml input names):',
  ];
  for (const [name, input] of Object.entries(spec.inputs)) {
    const def = input.default && !input.default.startsWith('${{') ? ` [default: ${input.default}]` : '';
    lines.push(`  --${name}${input.required ? ' (required)' : ''}${def}`, `      ${input.description}`);
  }
  lines.push('', 'Exit codes: 0 all gates passed, 1 a gate failed, 2 bad configuration or input.');
  return lines.join('\n');
}

/** A plain-text verdict for a terminal: gates first, then headline metrics, then where the report is. */
export function renderTerminal(report: Report, reportPath: string, notes: string[] = []): string {
  const failed = report.gates.filter((g) => !g.passed).length;
  const verdict = report.passed
    ? green(`✔ ${report.command}: all ${report.gates.length} gates passed`)
    : red(`✖ ${report.command}: ${failed} of ${report.gates.length} gates failed`);
  const lines = [verdict];
  const width = Math.max(0, ...report.gates.map((g) => g.expression.length));
  for (const g of report.gates) {
    const status = g.passed ? green('PASS') : red('FAIL');
    const scope = g.scope === 'overall' ? '' : ` [${g.scope}]`;
    const reason = g.reason ? `  ${dim(g.reason)}` : '';
    lines.push(
      `  ${status}  ${g.expression.padEnd(width)}  actual ${fmt(g.actual)}  threshold ${fmt(g.threshold)}${scope}${reason}`,
    );
  }
  // Headline metrics only: per-class (recall.yes) and per-column (null_fraction(age)) ones are in the report.
  const metrics = Object.entries(report.metrics).filter(([k]) => !/[.(]/.test(k));
  if (metrics.length) lines.push('', `Metrics: ${metrics.map(([k, v]) => `${k} ${fmt(v)}`).join(' · ')}`);
  lines.push(...notes);
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  lines.push('', `Report: ${reportPath}`, `Summary: ${summaryPathOf(reportPath)}`);
  return lines.join('\n');
}

const fmt = (x: number | null) =>
  x === null || !Number.isFinite(x) ? 'n/a' : Number.isInteger(x) ? String(x) : x.toPrecision(4);

/** The terminal face: flags in; a readable verdict, the JSON report and the exit code out. */
export async function runTerminal<I>(command: Command<I>, argv: string[]): Promise<ExitCode> {
  const spec = loadActionSpec(command.name);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText(command.name, spec)}\n`);
    return ExitCode.Passed;
  }
  const verbose = argv.includes('--debug') || process.env.RUNNER_DEBUG === '1';
  const logger = new TerminalLogger(process.stderr, verbose);
  let raw: RawInputs;
  try {
    raw = terminalInputs(
      parseFlags(
        argv.filter((a) => a !== '--debug'),
        spec,
      ),
      spec,
    );
  } catch (e) {
    logger.error((e as Error).message);
    return ExitCode.ConfigurationError;
  }
  const outcome = await execute(command, raw, logger);
  if (outcome.error) {
    logger.error(errorMessage(outcome.error));
    // A configuration error is the user's to fix: its message is enough. Anything else is a bug: show where.
    if (!(outcome.error instanceof ConfigurationError)) logger.info(outcome.error.stack ?? '');
    else logger.debug(outcome.error.stack ?? '');
    if (outcome.reportPath) logger.info(`Report: ${outcome.reportPath}`);
    return outcome.exitCode;
  }
  const { report, terminal } = outcome.result!;
  process.stdout.write(`${renderTerminal(report, outcome.reportPath!, terminal)}\n`);
  return outcome.exitCode;
}
