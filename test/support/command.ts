import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/logging.js';
import type { Report } from '../../src/report/types.js';
import { loadActionSpec } from '../../src/runtime/action-spec.js';
import type { Command } from '../../src/runtime/command.js';
import { execute, type Outcome } from '../../src/runtime/execute.js';

export interface CommandRun {
  outcome: Outcome;
  report: Report;
  details: Record<string, any>;
  /** outcome.error's message, '' when the run succeeded. */
  message: string;
  logger: MemoryLogger;
  dir: string;
}

/**
 * Runs a command the way every face does (execute), with action.yml's defaults for what `inputs` leaves
 * out (an input action.yml lacks is a bug in the test), and reads back the report it wrote.
 */
export async function runCommand(command: Command<any>, inputs: Record<string, string>): Promise<CommandRun> {
  const spec = loadActionSpec(command.name);
  for (const name of Object.keys(inputs)) {
    if (!(name in spec.inputs)) throw new Error(`${command.name} has no input "${name}"`);
  }
  const dir = mkdtempSync(join(tmpdir(), `mlgate-${command.name}-`));
  const values: Record<string, string> = { 'report-path': join(dir, 'report.json'), ...inputs };
  const raw = { get: (name: string) => values[name] ?? spec.inputs[name]?.default ?? '' };
  const logger = new MemoryLogger();
  const outcome = await execute(command, raw, logger);
  const report = JSON.parse(readFileSync(outcome.reportPath!, 'utf8')) as Report;
  return {
    outcome,
    report,
    details: report.details as Record<string, any>,
    message: outcome.error?.message ?? '',
    logger,
    dir,
  };
}
