import * as core from '@actions/core';
import { ConfigurationError, ExitCode } from '../errors.js';
import type { Annotation, Logger } from '../logging.js';
import { loadActionSpec } from './action-spec.js';
import type { Command } from './command.js';
import { publishComment } from './comment.js';
import { errorMessage, execute } from './execute.js';
import type { RawInputs } from './inputs.js';

/** Inputs as the runner passes them (INPUT_<NAME>), falling back to action.yml's default when absent. */
export function runnerInputs(command: string, env: NodeJS.ProcessEnv = process.env): RawInputs {
  const spec = loadActionSpec(command);
  return {
    get(name: string) {
      const value = env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];
      return value ?? spec.inputs[name]?.default ?? '';
    },
  };
}

export class RunnerLogger implements Logger {
  private lastProgress = 0;
  debug(message: string) {
    core.debug(message);
  }
  info(message: string) {
    core.info(message);
  }
  warning(message: string, where?: Annotation) {
    core.warning(message, properties(where));
  }
  error(message: string, where?: Annotation) {
    core.error(message, properties(where));
  }
  group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return core.group(name, fn);
  }
  /** The runner's log is not a terminal: a line every ten seconds at most. */
  progress(label: string, done: number, total?: number) {
    const now = Date.now();
    if (now - this.lastProgress < 10_000) return;
    this.lastProgress = now;
    core.info(
      `${label}: ${done.toLocaleString('en-US')}${total ? ` / ${total.toLocaleString('en-US')}` : ''}`,
    );
  }
}

function properties(where?: Annotation): core.AnnotationProperties | undefined {
  if (!where) return undefined;
  return { file: where.file, startLine: where.line, startColumn: where.column, title: where.title };
}

/** The GitHub face of a command: runner inputs in; outputs, job summary, annotations, PR comment and exit code out. */
export async function runAction<I>(command: Command<I>): Promise<void> {
  const logger = new RunnerLogger();
  const raw = runnerInputs(command.name);
  const token = raw.get('github-token');
  if (token && !token.startsWith('${{')) core.setSecret(token);
  for (const secret of command.secrets?.(raw) ?? []) if (secret) core.setSecret(secret);

  const outcome = await execute(command, raw, logger);
  if (outcome.reportPath) core.setOutput('report-path', outcome.reportPath);
  core.setOutput(
    'passed',
    String(outcome.exitCode === ExitCode.Passed && (outcome.result?.report.passed ?? false)),
  );

  if (outcome.error) {
    // The user's mistake needs only its message; a bug in mlgate needs its stack in the log.
    if (outcome.error instanceof ConfigurationError) core.debug(outcome.error.stack ?? '');
    else core.info(outcome.error.stack ?? '');
    core.setFailed(errorMessage(outcome.error));
    process.exitCode = outcome.exitCode;
    return;
  }
  const { result, common } = outcome as Required<typeof outcome>;
  for (const [name, value] of Object.entries(result.outputs)) core.setOutput(name, value);
  for (const gate of result.report.gates.filter((g) => !g.passed)) {
    core.error(
      `${gate.expression} (${gate.scope}): actual ${gate.actual ?? 'n/a'}, threshold ${gate.threshold ?? 'n/a'}${gate.reason ? `, ${gate.reason}` : ''}`,
      {
        title: `Gate failed (mlgate ${command.name})`,
      },
    );
  }
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(result.markdown, true).write();
  if (common.comment) await publishComment(command.name, result.markdown, common.githubToken, logger);
  if (outcome.exitCode === ExitCode.GateFailed) {
    const failed = result.report.gates.filter((g) => !g.passed).length;
    core.setFailed(
      `${failed} gate${failed === 1 ? '' : 's'} failed; see the job summary or ${outcome.reportPath}`,
    );
  }
  process.exitCode = outcome.exitCode;
}
