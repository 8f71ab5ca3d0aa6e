import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigurationError, ExitCode } from '../errors.js';
import type { Logger } from '../logging.js';
import { besideReport, buildReport, writeReport } from '../report/json.js';
import type { Command, CommandResult, CommonInputs } from './command.js';
import { input, type RawInputs } from './inputs.js';

export interface Outcome {
  exitCode: ExitCode;
  common?: CommonInputs;
  result?: CommandResult;
  /** Set for exit code 2: the configuration error, or the unexpected error (a bug). */
  error?: Error;
  reportPath?: string;
}

export function readCommonInputs(raw: RawInputs): CommonInputs {
  const token = input.optional(raw, 'github-token');
  return {
    reportPath: input.string(raw, 'report-path') || 'mlgate-report/report.json',
    comment: input.bool(raw, 'comment'),
    // An unsubstituted expression means we are not on a runner (the CLI reads action.yml defaults).
    githubToken: token && !token.startsWith('${{') ? token : undefined,
    failOnGate: input.bool(raw, 'fail-on-gate'),
  };
}

/**
 * The one path every face takes: inputs -> command -> report file -> exit code. The JSON report is
 * written whatever happens, so a later step can always read why the gate did not pass.
 */
export async function execute<I>(command: Command<I>, raw: RawInputs, logger: Logger): Promise<Outcome> {
  let common: CommonInputs | undefined;
  try {
    common = readCommonInputs(raw);
    const inputs = command.readInputs(raw);
    const result = await command.run(inputs, logger);
    const reportPath = resolve(common.reportPath);
    await writeReport(result.report, reportPath);
    // The job summary beside the report: CI systems other than GitHub (and act users) get it too.
    await writeFile(summaryPathOf(reportPath), result.markdown, 'utf8');
    const exitCode = result.report.passed || !common.failOnGate ? ExitCode.Passed : ExitCode.GateFailed;
    return { exitCode, common, result, reportPath };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    const outcome: Outcome = { exitCode: ExitCode.ConfigurationError, common, error };
    if (common) {
      const report = buildReport({ command: command.name, gates: [] });
      report.passed = false;
      report.error = { message: errorMessage(error) };
      outcome.reportPath = resolve(common.reportPath);
      await writeReport(report, outcome.reportPath).catch(() => undefined);
    }
    return outcome;
  }
}

export const summaryPathOf = (reportPath: string) => besideReport(reportPath, '.md');

export function errorMessage(error: Error): string {
  return error instanceof ConfigurationError
    ? error.message
    : `internal error (a bug in mlgate, please report it): ${error.message}`;
}
