import type { Logger } from '../logging.js';
import type { Report } from '../report/types.js';
import type { RawInputs } from './inputs.js';

/** What every command returns: the report, and how to show it. */
export interface CommandResult {
  report: Report;
  /** Markdown for the job summary and the PR comment. */
  markdown: string;
  /** Step outputs beyond the common ones (passed, report-path), by action.yml output name. */
  outputs: Record<string, string>;
  /** A few plain lines for a terminal, under the gates: what failed and where to look. */
  terminal?: string[];
}

/** A command: typed inputs in, a Report out. It never touches @actions/core: the faces do. */
export interface Command<I> {
  name: string;
  /** Human title for summaries, e.g. "Model validation". */
  title: string;
  readInputs(raw: RawInputs): I;
  /** Secret values among the raw inputs (beyond github-token), masked in the runner's log before anything runs. */
  secrets?(raw: RawInputs): string[];
  run(inputs: I, logger: Logger): Promise<CommandResult>;
}

/** Inputs every action has, with the same meaning everywhere. */
export interface CommonInputs {
  reportPath: string;
  comment: boolean;
  githubToken?: string;
  failOnGate: boolean;
}
